import test from 'ava';
import { traceLineage, uploadRunId, type Lineage } from '../../core/lineage/graph.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { lineageFixture } from '../helpers/lineage-graph.js';

let db: TestDatabase;
test.before(async () => {
  db = await createTestDatabase();
});
test.after.always(() => db?.drop());

const ids = (l: Lineage, kind: 'data' | 'run') => l.nodes.filter((n) => n.kind === kind).map((n) => n.id).sort();
const edgeSet = (l: Lineage) => l.edges.map((e) => `${e.from}>${e.to}:${e.label}`).sort();

// a, b uploaded; r1 reads a -> x; r2 reads x and b -> y; r3 reads y -> z; a diamond: r4 reads a -> w, r5 reads w and x -> v.
async function chain() {
  const g = await lineageFixture(db.pool);
  const a = await g.upload('name:a');
  const b = await g.upload('name:b');
  const r1 = await g.run([a]);
  const r2 = await g.run([r1.out, b]);
  const r3 = await g.run([r2.out], { status: 'failed', exitCode: 3 });
  const r4 = await g.run([a]);
  const r5 = await g.run([r4.out, r1.out]);
  return { g, a, b, r1, r2, r3, r4, r5 };
}

test('lineage upstream walks producers to the uploads, each run whole, with mount paths, log and upload edges', async (t) => {
  const { a, b, r1, r2 } = await chain();
  const up = await traceLineage(db.pool, r2.out, 'all', 0);
  t.deepEqual(ids(up, 'run'), [r1.run, r2.run, uploadRunId(a), uploadRunId(b)].sort());
  t.deepEqual(ids(up, 'data'), [a, b, r1.out, r1.log, r2.out, r2.log].sort());
  t.deepEqual(edgeSet(up), [
    `${a}>${r1.run}:/in/0`, `${r1.run}>${r1.out}:/out/0`, `${r1.run}>${r1.log}:log`,
    `${r1.out}>${r2.run}:/in/0`, `${b}>${r2.run}:/in/1`, `${r2.run}>${r2.out}:/out/0`, `${r2.run}>${r2.log}:log`,
    `${uploadRunId(a)}>${a}:upload`, `${uploadRunId(b)}>${b}:upload`,
  ].sort());
  const run = up.nodes.find((n) => n.id === r2.run);
  t.like(run, { kind: 'run', status: 'done', exitCode: 0, upload: false, image: 'lineage/step2:1' });
  const data = up.nodes.find((n) => n.id === r2.out);
  t.like(data, { kind: 'data', transient: null });
  t.true(data?.kind === 'data' && data.tags.includes(`made-by:${r2.run.slice(0, 8)}`));
  t.is(up.truncated, undefined);
});

test('lineage depth counts generations of runs, up and down, and a diamond is reached once', async (t) => {
  const { a, r1, r2, r3, r4, r5 } = await chain();
  const one = await traceLineage(db.pool, r2.out, 1, 0);
  t.deepEqual(ids(one, 'run').filter((id) => !id.startsWith('upload-')), [r2.run]);
  const down = await traceLineage(db.pool, a, 0, 'all');
  t.deepEqual(ids(down, 'run').filter((id) => !id.startsWith('upload-')), [r1.run, r2.run, r3.run, r4.run, r5.run].sort());
  t.like(down.nodes.find((n) => n.id === r3.run), { status: 'failed', exitCode: 3 });
  const twoDown = await traceLineage(db.pool, a, 0, 2);
  t.deepEqual(ids(twoDown, 'run').filter((id) => !id.startsWith('upload-')), [r1.run, r2.run, r4.run, r5.run].sort());
  t.is(new Set(down.edges.map((e) => `${e.from}>${e.to}>${e.label}`)).size, down.edges.length, 'no edge twice');
  const none = await traceLineage(db.pool, r1.out, 0, 0);
  t.deepEqual(ids(none, 'data'), [r1.out]);
});

test('an invalidated run is not downstream of anything', async (t) => {
  const g = await lineageFixture(db.pool);
  const a = await g.upload();
  const gone = await g.run([a], { status: 'invalidated' });
  const kept = await g.run([a]);
  const down = await traceLineage(db.pool, a, 0, 'all');
  t.true(down.nodes.some((n) => n.id === kept.run));
  t.false(down.nodes.some((n) => n.id === gone.run));
});

test('the node cap keeps the runs nearest the Data, whole, and says it cut the graph', async (t) => {
  const g = await lineageFixture(db.pool);
  const a = await g.upload();
  // A chain of 10 runs: each adds itself, its output and its log (3 nodes).
  let last = a;
  const runs: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await g.run([last]);
    runs.push(r.run);
    last = r.out;
  }
  const full = await traceLineage(db.pool, a, 0, 'all');
  t.is(full.nodes.length, 2 + 30);
  t.is(full.truncated, undefined);
  const cut = await traceLineage(db.pool, a, 0, 'all', 12);
  // a and its upload (2), then three whole runs (9): a fourth would pass 12.
  t.deepEqual(ids(cut, 'run').filter((id) => !id.startsWith('upload-')), runs.slice(0, 3).sort());
  t.is(cut.nodes.length, 11);
  t.true(cut.edges.every((e) => cut.nodes.some((n) => n.id === e.from) && cut.nodes.some((n) => n.id === e.to)));
  t.is(cut.truncated?.maxNodes, 12);
  t.regex(cut.truncated?.message ?? '', /more than 12 nodes; the 11 nearest .* are shown/);
});

test('an unknown Data is not found', async (t) => {
  const err = await t.throwsAsync(traceLineage(db.pool, '00000000-0000-4000-8000-000000000000', 'all', 'all'));
  t.regex(err!.message, /not found/);
});
