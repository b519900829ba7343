import test from 'ava';
import { ProvenanceDiff } from '../../core/lineage/diff.js';
import { Lineage } from '../../core/lineage/graph.js';
import { Impact } from '../../core/lineage/impact.js';
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

// GET /api/lineage/data/{id}/impact and GET /api/lineage/diff?a=&b=: bodies in their schemas, ids
// as unique prefixes, unknown ids 404 naming them, malformed or missing ones 400 naming the field.
test('the impact and diff routes answer in their schemas and refuse bad ids naming the field', async (t) => {
  const api = await startTestApi();
  t.teardown(() => api.close());
  const g = await lineageFixture(api.db.pool);
  const a = await g.upload();
  const r1 = await g.run([a]);
  const r2 = await g.run([a]);
  const get = async (path: string) => {
    const res = await fetch(`${api.url}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const impact = await get(`/api/lineage/data/${a.slice(0, 8)}/impact`);
  t.is(impact.status, 200);
  t.like(Impact.parse(impact.body), { root: a, runs: 2, data: 4 });
  const cut = Impact.parse((await get(`/api/lineage/data/${a}/impact?max=5`)).body);
  t.is(cut.runs, 1);
  t.regex(cut.truncated?.message ?? '', /more than 5 nodes/);
  const over = await get(`/api/lineage/data/${a}/impact?max=${LIMITS.lineageNodes + 1}`);
  t.is(over.status, 400);
  t.regex(JSON.stringify(over.body), /"field":"max"/);

  const diff = await get(`/api/lineage/diff?a=${r1.out}&b=${r2.out.slice(0, 10)}`);
  t.is(diff.status, 200);
  t.like(ProvenanceDiff.parse(diff.body), { a: r1.out, b: r2.out, sameProvenance: true });
  const missing = '00000000-0000-4000-8000-000000000000';
  const unknown = await get(`/api/lineage/diff?a=${r1.out}&b=${missing}`);
  t.is(unknown.status, 404);
  t.like(unknown.body, { error: { field: 'b', message: `data ${missing} not found` } });
  const malformed = await get(`/api/lineage/diff?a=zz&b=${r1.out}`);
  t.is(malformed.status, 400);
  t.like(malformed.body, { error: { field: 'a' } });
  const absent = await get(`/api/lineage/diff?a=${r1.out}`);
  t.is(absent.status, 400);
  t.like(absent.body, { error: { field: 'b' } });
  t.regex(JSON.stringify(absent.body), /a Data id is needed/);
  t.is((await get(`/api/lineage/data/${missing}/impact`)).status, 404);
});
