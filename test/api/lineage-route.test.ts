import test from 'ava';
import { Lineage } from '../../core/lineage/graph.js';
import { LIMITS } from '../../core/limits/limits.js';
import { startTestApi } from '../helpers/api.js';
import { lineageFixture } from '../helpers/lineage-graph.js';

// GET /api/lineage/data/{id}: depths and the node cap as query parameters, a cap above the
// deployment's refused naming the field, a cut graph marked as such.
test('the lineage route takes up, down and max, and refuses a max above the deployment\'s cap', async (t) => {
  const api = await startTestApi();
  t.teardown(() => api.close());
  const g = await lineageFixture(api.db.pool);
  const a = await g.upload();
  const r1 = await g.run([a]);
  await g.run([r1.out]);
  const get = async (query: string) => {
    const res = await fetch(`${api.url}/api/lineage/data/${a}?${query}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const full = await get('down=all');
  t.is(full.status, 200);
  t.is(Lineage.parse(full.body).nodes.length, 8);
  const cut = Lineage.parse((await get('down=all&max=5')).body);
  t.is(cut.nodes.length, 5);
  t.regex(cut.truncated?.message ?? '', /more than 5 nodes/);
  const over = await get(`down=all&max=${LIMITS.lineageNodes + 1}`);
  t.is(over.status, 400);
  t.regex(JSON.stringify(over.body), /"field":"max"/);
  t.regex(JSON.stringify(over.body), /KNIT_LINEAGE_MAX_NODES/);
  const bad = await get('down=deep');
  t.is(bad.status, 400);
  t.regex(JSON.stringify(bad.body), /must be a number of generations or \\"all\\"/);
});
