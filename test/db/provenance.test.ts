import test from 'ava';
import { diffProvenance, formatDiff, type ProvenanceDiff } from '../../core/lineage/diff.js';
import { traceImpact } from '../../core/lineage/impact.js';
import { loadProvenance } from '../../core/lineage/provenance.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { lineageFixture } from '../helpers/lineage-graph.js';

let db: TestDatabase;
test.before(async () => {
  db = await createTestDatabase();
});
test.after.always(() => db?.drop());

const diff = (a: string, b: string, bounds?: { depth: number; pairs: number }) => diffProvenance((ids) => loadProvenance(db.pool, ids), a, b, bounds);
const kinds = (d: ProvenanceDiff) => d.differences.map((x) => x.kind);
const digest = (c: string) => `sha256:${c.repeat(64)}`;

// ---------- impact ----------

test('impact lists every run and Data downstream, logs included, each once at its nearest depth, and not the other inputs', async (t) => {
  const g = await lineageFixture(db.pool);
  const a = await g.upload();
  const side = await g.upload();
  const r1 = await g.run([a]);
  const r2 = await g.run([r1.out, side]);
  const r3 = await g.run([r2.out]);
  // A diamond: r4 reads a, r5 reads r4's and r1's outputs.
  const r4 = await g.run([a]);
  const r5 = await g.run([r4.out, r1.out]);
  const impact = await traceImpact(db.pool, a);
  const depthOf = new Map(impact.items.map((i) => [i.id, i.depth]));
  t.deepEqual(impact.items.filter((i) => i.kind === 'run').map((i) => i.id).sort(), [r1.run, r2.run, r3.run, r4.run, r5.run].sort());
  t.deepEqual(impact.items.filter((i) => i.kind === 'data').map((i) => i.id).sort(), [r1, r2, r3, r4, r5].flatMap((r) => [r.out, r.log]).sort());
  t.is(impact.items.length, new Set(impact.items.map((i) => i.id)).size, 'each item once');
  t.false(depthOf.has(side), 'an input read beside a is not stale');
  t.false(depthOf.has(a));
  t.is(depthOf.get(r1.run), 1);
  t.is(depthOf.get(r4.run), 1);
  t.is(depthOf.get(r5.run), 2, 'the diamond run at its nearest generation');
  t.is(depthOf.get(r3.run), 3);
  t.is(depthOf.get(r3.log), 3);
  t.deepEqual([impact.runs, impact.data], [5, 10]);
  t.deepEqual(impact.items.map((i) => i.depth), [...impact.items.map((i) => i.depth)].sort((x, y) => x - y), 'nearest first');
  t.like(impact.items.find((i) => i.id === r1.out), { kind: 'data', status: 'ready' });
  t.is(impact.truncated, undefined);
  // A Data nothing read is stale alone.
  t.deepEqual((await traceImpact(db.pool, r3.out)).items, []);
});

// Serial: AVA runs serial tests before the concurrent ones, so no other test writes while the tables are compared.
test.serial('impact is a dry run: no row of the database changes', async (t) => {
  const g = await lineageFixture(db.pool);
  const a = await g.upload();
  const r1 = await g.run([a]);
  await g.run([r1.out], { status: 'running', exitCode: null });
  const snapshot = async () => {
    const out: Record<string, unknown[]> = {};
    for (const table of ['run', 'data', 'data_tag', 'run_input', 'outbox', 'plan']) out[table] = (await db.pool.query(`SELECT * FROM ${table} ORDER BY 1, 2`)).rows;
    return out;
  };
  const before = await snapshot();
  const impact = await traceImpact(db.pool, a);
  t.is(impact.runs, 2);
  t.deepEqual(await snapshot(), before);
});

test('impact is cut at the node cap, nearest first, and says so', async (t) => {
  const g = await lineageFixture(db.pool);
  const a = await g.upload();
  let last = a;
  const runs: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await g.run([last]);
    runs.push(r.run);
    last = r.out;
  }
  t.is((await traceImpact(db.pool, a)).runs, 10);
  const cut = await traceImpact(db.pool, a, 12);
  t.deepEqual(cut.items.filter((i) => i.kind === 'run').map((i) => i.id), runs.slice(0, 3));
  t.is(cut.truncated?.maxNodes, 12);
  t.regex(cut.truncated?.message ?? '', /more than 12 nodes are downstream of .*more would be stale than shown/);
});

test('impact of an unknown Data is not found', async (t) => {
  const err = await t.throwsAsync(traceImpact(db.pool, '00000000-0000-4000-8000-000000000000'));
  t.regex(err!.message, /not found/);
});

// ---------- diff ----------

test('diff: a Data and itself are identical', async (t) => {
  const g = await lineageFixture(db.pool);
  const a = await g.upload();
  const d = await diff(a, a);
  t.like(d, { identical: true, sameProvenance: true, differences: [] });
  t.regex(formatDiff(d), /are the same Data/);
});

test('diff: two uploads differ by content, with digests, sizes and tags', async (t) => {
  const g = await lineageFixture(db.pool);
  const a = await g.uploadContent({ digest: digest('a'), size: 10 }, 'v:1');
  const b = await g.uploadContent({ digest: digest('b'), size: 20 }, 'v:2');
  const d = await diff(a, b);
  t.false(d.identical);
  t.deepEqual(kinds(d), ['upload']);
  t.like(d.differences[0], { path: [], a: { digest: digest('a'), size: 10 }, b: { digest: digest('b'), size: 20 }, note: 'two uploads with different content' });
  t.true((d.differences[0]!.a as { tags: string[] }).tags.includes('v:1'));
  const c = await g.uploadContent({ digest: digest('a'), size: 10 }, 'v:3');
  t.is((await diff(a, c)).differences[0]!.note, 'two uploads of the same content');
});

test('diff: an upload against a run\'s output differs by origin', async (t) => {
  const g = await lineageFixture(db.pool);
  const a = await g.upload();
  const r = await g.run([a]);
  const d = await diff(a, r.out);
  t.deepEqual(kinds(d), ['origin']);
  t.like(d.differences[0], { a: { uploaded: true }, b: { run: r.run, output: '/out/0' } });
});

test('diff: two outputs of one run differ by output', async (t) => {
  const g = await lineageFixture(db.pool);
  const r = await g.run([await g.upload()]);
  const d = await diff(r.out, r.log);
  t.deepEqual(kinds(d), ['output']);
  t.like(d.differences[0], { a: '/out/0', b: 'log' });
});

test('diff: different plans report the plan and each way they run differently, and the inputs that differ too are listed, not followed', async (t) => {
  const g = await lineageFixture(db.pool);
  const u1 = await g.upload();
  const u2 = await g.upload();
  const p1 = await g.plan(1, { image: 'train:1', args: ['--lr', '0.1'], resources: { cpu: '1', memory: '1Gi' } });
  const p2 = await g.plan(1, { image: 'train:2', args: ['--lr', '0.2'], resources: { cpu: '2', memory: '1Gi' } });
  const a = await g.run([u1], { plan: p1 });
  const b = await g.run([u2], { plan: p2 });
  const d = await diff(a.out, b.out);
  t.deepEqual(kinds(d), ['plan', 'image', 'args', 'resources', 'input']);
  t.like(d.differences[0], { a: p1, b: p2, note: 'different plans' });
  t.like(d.differences[1], { a: 'train:1', b: 'train:2' });
  t.deepEqual(d.differences[2]!.a, ['--lr', '0.1']);
  t.deepEqual(d.differences[3]!.b, { cpu: '2', memory: '1Gi' });
  t.like(d.differences[4], { a: u1, b: u2, path: [{ mount: '/in/0', runs: { a: a.run, b: b.run }, data: { a: u1, b: u2 } }] });
  t.false(d.sameProvenance);
  // Different mounts.
  const p3 = await g.plan(1, { image: 'train:1', args: ['--lr', '0.1'], resources: { cpu: '1', memory: '1Gi' } }, ['/in/data']);
  const c = await g.run([u1], { plan: p3 });
  const m = await diff(a.out, c.out);
  t.deepEqual(kinds(m), ['plan', 'mounts']);
  t.like(m.differences[1], { a: ['/in/0'], b: ['/in/data'] });
});

test('diff: same plan, same run config, different input Data: the walk follows the inputs that differ, with the path of mounts', async (t) => {
  const g = await lineageFixture(db.pool);
  const shared = await g.upload();
  const u1 = await g.uploadContent({ digest: digest('1'), size: 1 });
  const u2 = await g.uploadContent({ digest: digest('2'), size: 2 });
  const prep = await g.plan(1, { image: 'prep:1' });
  const train = await g.plan(2, { image: 'train:1' });
  const x1 = await g.run([u1], { plan: prep });
  const x2 = await g.run([u2], { plan: prep });
  // /in/0 is the same Data on both sides; /in/1 differs, two generations up it is the uploads.
  const a = await g.run([shared, x1.out], { plan: train });
  const b = await g.run([shared, x2.out], { plan: train });
  const d = await diff(a.out, b.out);
  t.deepEqual(kinds(d), ['upload']);
  const [first] = d.differences;
  t.deepEqual(first!.path, [
    { runs: { a: a.run, b: b.run }, mount: '/in/1', data: { a: x1.out, b: x2.out } },
    { runs: { a: x1.run, b: x2.run }, mount: '/in/0', data: { a: u1, b: u2 } },
  ]);
  t.deepEqual(first!.data, { a: u1, b: u2 });
  t.regex(formatDiff(d), /A vs B ← \/in\/1 \(runs .{8} vs .{8}\) ← \/in\/0 \(runs .{8} vs .{8}\) \[Data .{8}… vs .{8}…\]: upload:/);
  t.is(d.truncated, undefined);
});

test('diff: a re-run, same plan and same input Data, is identical provenance: the program is not deterministic', async (t) => {
  const g = await lineageFixture(db.pool);
  const u = await g.upload();
  const a = await g.run([u]);
  const b = await g.run([u]);
  const d = await diff(a.out, b.out);
  t.like(d, { identical: false, sameProvenance: true });
  t.deepEqual(kinds(d), ['rerun']);
  t.like(d.differences[0], { a: a.run, b: b.run });
  t.regex(formatDiff(d), /same provenance.*not deterministic/);
  // A re-run one generation up is found through the inputs.
  const a2 = await g.run([a.out]);
  const b2 = await g.run([b.out]);
  const up = await diff(a2.out, b2.out);
  t.deepEqual(kinds(up), ['rerun']);
  t.is(up.differences[0]!.path.length, 1);
});

test('diff: a diamond pair is compared once, and the bounds cut the walk, listing what they left', async (t) => {
  const g = await lineageFixture(db.pool);
  const u1 = await g.uploadContent({ digest: digest('c'), size: 1 });
  const u2 = await g.uploadContent({ digest: digest('d'), size: 1 });
  const x1 = await g.run([u1]);
  const x2 = await g.run([u2]);
  // Both inputs of the two-input runs differ the same way: the pair (u1, u2) is met twice.
  const a = await g.run([x1.out, x1.out]);
  const b = await g.run([x2.out, x2.out]);
  const d = await diff(a.out, b.out);
  t.deepEqual(kinds(d), ['upload'], 'the pair met twice is reported once');
  const shallow = await diff(a.out, b.out, { depth: 1, pairs: 100 });
  t.deepEqual(kinds(shallow), ['input'], 'the pair left is listed once');
  t.like(shallow.differences[0], { a: x1.out, b: x2.out, path: [{ mount: '/in/0' }] });
  t.regex(shallow.truncated?.message ?? '', /stopped after 1 generations/);
  const few = await diff(a.out, b.out, { depth: 10, pairs: 1 });
  t.deepEqual(kinds(few), ['input']);
  t.regex(few.truncated?.message ?? '', /stopped after comparing 1 pairs/);
});

test('diff: an unknown Data is not found, naming its side', async (t) => {
  const g = await lineageFixture(db.pool);
  const a = await g.upload();
  const missing = '00000000-0000-4000-8000-000000000000';
  const errB = await t.throwsAsync(diff(a, missing));
  t.like(errB, { field: 'b', message: `data ${missing} not found` });
  const errA = await t.throwsAsync(diff(missing, a));
  t.like(errA, { field: 'a' });
});
