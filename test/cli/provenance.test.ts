import test from 'ava';
import type { ProvenanceDiff } from '../../core/lineage/diff.js';
import type { Impact } from '../../core/lineage/impact.js';
import { startTestApi } from '../helpers/api.js';
import { parseJson, runKnit, runKnitOnTerminal } from '../helpers/cli.js';
import { lineageFixture } from '../helpers/lineage-graph.js';

// knit data lineage --impact ID: the downstream runs and Data as JSON off a terminal (a table on
// one), the count on stderr.
test('data lineage --impact lists what would be stale, JSON piped, a table on a terminal, the summary on stderr', async (t) => {
  const api = await startTestApi();
  t.teardown(() => api.close());
  const env = { KNIT_SERVER: api.url };
  const g = await lineageFixture(api.db.pool);
  const a = await g.upload();
  const r1 = await g.run([a]);
  const r2 = await g.run([r1.out]);
  const r = await runKnit(['data', 'lineage', '--impact', a], { env });
  t.is(r.code, 0, r.stderr);
  const impact = parseJson<Impact>(r);
  t.deepEqual(impact.items.filter((i) => i.kind === 'run').map((i) => [i.id, i.depth]), [[r1.run, 1], [r2.run, 2]]);
  t.regex(r.stderr, new RegExp(`2 runs and 4 Data downstream of ${a} would be stale`));
  const tty = await runKnitOnTerminal(['data', 'lineage', '--impact', a], { env });
  t.is(tty.code, 0, tty.output);
  t.regex(tty.output, /KIND\s+ID\s+PLAN\/TAGS\s+STATUS\s+DEPTH/);
  t.regex(tty.output, new RegExp(`run\\s+${r2.run}\\s+\\S+ \\(lineage/step1:1\\)\\s+done\\s+2`));
  const up = await runKnit(['data', 'lineage', '--impact', '-u', a], { env });
  t.is(up.code, 2);
  t.regex(up.stderr, /leave out --upstream/);
});

// knit data diff A B: text by default, --json structured.
test('data diff explains two Data by provenance, as text or JSON, and names an unknown id', async (t) => {
  const api = await startTestApi();
  t.teardown(() => api.close());
  const env = { KNIT_SERVER: api.url };
  const g = await lineageFixture(api.db.pool);
  const u = await g.upload();
  const p1 = await g.plan(1, { image: 'train:1' });
  const p2 = await g.plan(1, { image: 'train:2' });
  const a = await g.run([u], { plan: p1 });
  const b = await g.run([u], { plan: p2 });
  const text = await runKnit(['data', 'diff', a.out, b.out], { env });
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /differ by provenance:/);
  t.regex(text.stdout, /A vs B: image: train:1 vs train:2/);
  const json = await runKnit(['data', 'diff', '--json', a.out, b.out], { env });
  t.is(json.code, 0, json.stderr);
  const diff = parseJson<ProvenanceDiff>(json);
  t.deepEqual(diff.differences.map((d) => d.kind), ['plan', 'image']);
  t.false(diff.identical);
  const missing = '00000000-0000-4000-8000-000000000000';
  const unknown = await runKnit(['data', 'diff', a.out, missing], { env });
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, new RegExp(`data ${missing} not found`));
});
