import test from 'ava';
import { changeTags } from '../../core/data/db.js';
import { withTx } from '../../core/db/pool.js';
import { setPlanActive } from '../../core/plan/db.js';
import { beginAttempt, finishAttempt } from '../../core/run/attempt.js';
import { matchOutbox, outputsFeedAPlan } from '../../core/run/matching.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testData, testPlan } from '../helpers/records.js';

let db: TestDatabase;
test.before(async () => {
  db = await createTestDatabase();
});
test.after.always(() => db?.drop());

const digest = `sha256:${'0'.repeat(64)}`;
const data = (...tags: string[]) => testData(db.pool, ...tags);
const plan = (spec: unknown) => testPlan(db.pool, spec);

async function runsOf(planId: string) {
  const r = await db.pool.query<{ id: string; status: string; key: string }>(
    `SELECT r.id, r.status, string_agg(ri.data_id::text, ',' ORDER BY ri.idx) AS key
     FROM run r JOIN run_input ri ON ri.run_id = r.id WHERE r.plan_id = $1 GROUP BY r.id, r.status`,
    [planId],
  );
  return r.rows;
}

async function settle() {
  for (;;) if (!(await matchOutbox(db.pool)).more) break;
}

test.serial('every combination runs once, whichever comes first: 2x3 = 6, then a 4th model adds 2', async (t) => {
  const d1 = await data('k:ds', 'suite:a');
  const p = await plan({ image: 'x/y:1', inputs: [{ path: '/d', tags: ['k:ds', 'suite:a'] }, { path: '/m', tags: ['k:model', 'suite:a'] }] });
  const d2 = await data('k:ds', 'suite:a', 'extra:fine');
  const models = [await data('k:model', 'suite:a'), await data('k:model', 'suite:a'), await data('k:model', 'suite:a')];
  await settle();
  let runs = await runsOf(p.id);
  t.is(runs.length, 6);
  t.is(new Set(runs.map((r) => r.key)).size, 6);
  for (const d of [d1, d2]) for (const m of models) t.true(runs.some((r) => r.key === `${d.id},${m.id}`));
  await data('k:model', 'suite:a');
  await settle();
  runs = await runsOf(p.id);
  t.is(runs.length, 8);
  t.is(new Set(runs.map((r) => r.key)).size, 8);
  await settle();
  t.is((await runsOf(p.id)).length, 8, 'nothing new, nothing added');
});

test.serial('repeated and concurrent reconciles never duplicate a run', async (t) => {
  const p = await plan({ image: 'x/dup:1', inputs: [{ path: '/in', tags: ['suite:dup'] }] });
  await settle();
  const ds = await Promise.all(Array.from({ length: 30 }, () => data('suite:dup')));
  // The same events again, as if a crash made the matcher see them twice.
  for (const d of ds) await db.pool.query(`INSERT INTO outbox (kind, subject_id) VALUES ('data.created', $1), ('data.tagged', $1)`, [d.id]);
  await db.pool.query(`INSERT INTO outbox (kind, subject_id) VALUES ('plan.applied', $1), ('plan.applied', $1)`, [p.id]);
  await Promise.all(Array.from({ length: 5 }, () => settle()));
  const runs = await runsOf(p.id);
  t.is(runs.length, 30);
  t.is(new Set(runs.map((r) => r.key)).size, 30);
});

test.serial('adding a tag to old Data creates its runs; removing one stops future runs but keeps past ones', async (t) => {
  const old = await data('suite:tagging');
  const p = await plan({ image: 'x/tag:1', inputs: [{ path: '/in', tags: ['suite:tagging', 'ready:yes'] }] });
  await settle();
  t.is((await runsOf(p.id)).length, 0);
  await withTx(db.pool, (tx) => changeTags(tx, old.id, { add: [{ key: 'ready', value: 'yes' }], remove: [], removeKey: [] }));
  await settle();
  const runs = await runsOf(p.id);
  t.is(runs.length, 1);
  await withTx(db.pool, (tx) => changeTags(tx, old.id, { add: [], remove: [{ key: 'ready', value: 'yes' }], removeKey: [] }));
  await settle();
  t.deepEqual(await runsOf(p.id), runs, 'the past run and its inputs are untouched');
  const fresh = await data('suite:tagging');
  await withTx(db.pool, (tx) => changeTags(tx, fresh.id, { add: [{ key: 'ready', value: 'yes' }], remove: [], removeKey: [] }));
  await settle();
  t.is((await runsOf(p.id)).length, 2);
});

test.serial('runs of an inactive plan wait as deactivated and wait again when it is reactivated', async (t) => {
  const p = await plan({ image: 'x/inactive:1', active: false, inputs: [{ path: '/in', tags: ['suite:inactive'] }] });
  await data('suite:inactive');
  await data('suite:inactive');
  await settle();
  t.deepEqual((await runsOf(p.id)).map((r) => r.status), ['deactivated', 'deactivated']);
  await withTx(db.pool, (tx) => setPlanActive(tx, p.id, true));
  await settle();
  t.deepEqual((await runsOf(p.id)).map((r) => r.status), ['waiting', 'waiting']);
  await withTx(db.pool, (tx) => setPlanActive(tx, p.id, false));
  await data('suite:inactive');
  await settle();
  t.deepEqual((await runsOf(p.id)).map((r) => r.status).sort(), ['deactivated', 'deactivated', 'deactivated']);
});

test.serial('only uploads and outputs of done runs are eligible; processing and failed outputs are not', async (t) => {
  const train = await plan({ image: 'x/train:1', inputs: [{ path: '/in', tags: ['suite:elig'] }], outputs: [{ path: '/out', tags: ['suite:elig-model'] }] });
  const evaluate = await plan({ image: 'x/eval:1', inputs: [{ path: '/in', tags: ['suite:elig-model'] }] });
  await data('suite:elig');
  await data('suite:elig');
  await settle();
  const [r1, r2] = await runsOf(train.id);
  const begin = async (id: string) => {
    const b = await withTx(db.pool, (tx) => beginAttempt(tx, id));
    if (!b.begun) throw new Error('not begun');
    return b.context;
  };
  const c1 = await begin(r1!.id);
  const c2 = await begin(r2!.id);
  await settle();
  t.is((await runsOf(evaluate.id)).length, 0, 'processing outputs are not inputs');
  const begunAt = (await db.pool.query<{ created_at: Date }>('SELECT created_at FROM data WHERE id = $1', [c2.outputs[0]!.dataId])).rows[0]!.created_at;
  await new Promise((r) => setTimeout(r, 20));
  const content = (dataId: string) => ({ dataId, size: 1, digest, blobKey: `data/${dataId}` });
  for (const [c, status] of [
    [c1, 'failed'],
    [c2, 'done'],
  ] as const) {
    for (const s of ['ready', 'starting', 'running'] as const) await db.pool.query('UPDATE run SET status = $2 WHERE id = $1', [c.runId, s]);
    await withTx(db.pool, (tx) => finishAttempt(tx, c.runId, c.attempt, { status, exitCode: status === 'done' ? 0 : 1, message: null, contents: [...c.outputs.map((o) => content(o.dataId)), content(c.log.dataId)] }));
  }
  await settle();
  const evalRuns = await runsOf(evaluate.id);
  t.is(evalRuns.length, 1, 'only the done run feeds the next plan');
  t.is(evalRuns[0]!.key, c2.outputs[0]!.dataId);
  const failed = await db.pool.query('SELECT transient FROM data WHERE id = $1', [c1.outputs[0]!.dataId]);
  t.is(failed.rows[0].transient, 'failed');

  // As in Knitfab, knit#timestamp of an output is when its run finished, and then it is fixed.
  const stamps = await db.pool.query<{ created_at: Date; finished_at: Date }>('SELECT d.created_at, r.finished_at FROM data d JOIN run r ON r.id = d.producer_run_id WHERE d.id = $1', [c2.outputs[0]!.dataId]);
  t.true(stamps.rows[0]!.created_at > begunAt, 'later than the attempt began');
  t.true(stamps.rows[0]!.created_at <= stamps.rows[0]!.finished_at, 'stamped in the finishing transaction');
  const err = await t.throwsAsync(db.pool.query("UPDATE data SET created_at = created_at + interval '1 second' WHERE id = $1", [c2.outputs[0]!.dataId]));
  t.regex(err!.message, /immutable/);
});

test.serial('an input may pick one Data by knit#id; the same Data may fill two inputs', async (t) => {
  const a = await data('suite:byid');
  await data('suite:byid');
  const p = await plan({ image: 'x/byid:1', inputs: [{ path: '/in', tags: [`knit#id:${a.id}`] }] });
  await settle();
  t.deepEqual((await runsOf(p.id)).map((r) => r.key), [a.id]);
  const pair = await plan({ image: 'x/pair:1', inputs: [{ path: '/x', tags: ['suite:byid'] }, { path: '/y', tags: ['suite:byid'] }] });
  await settle();
  t.is((await runsOf(pair.id)).length, 4, 'the cross product of 2 and 2, positions distinct');
});

test.serial('knit#timestamp and knit#id select through both matching paths; two different ids select nothing', async (t) => {
  const first = await data('suite:bytime');
  const stamp = first.createdAt.toISOString();
  // The same instant written with an offset instead of Z.
  const offset = stamp.replace('Z', '+00:00');
  const byTime = await plan({ image: 'x/bytime:1', inputs: [{ path: '/in', tags: ['suite:bytime', `knit#timestamp:${offset}`] }] });
  await settle();
  t.deepEqual((await runsOf(byTime.id)).map((r) => r.key), [first.id], 'the plan came after the Data');
  await data('suite:bytime');
  await settle();
  t.is((await runsOf(byTime.id)).length, 1, 'a later Data has another timestamp');

  const later = await data('suite:later');
  const planFirst = await plan({ image: 'x/idfirst:1', inputs: [{ path: '/in', tags: [`knit#id:${later.id}`, 'ready:yes'] }] });
  await settle();
  t.is((await runsOf(planFirst.id)).length, 0);
  await withTx(db.pool, (tx) => changeTags(tx, later.id, { add: [{ key: 'ready', value: 'yes' }], remove: [], removeKey: [] }));
  await settle();
  t.deepEqual((await runsOf(planFirst.id)).map((r) => r.key), [later.id], 'the Data came after the plan');

  const both = await plan({ image: 'x/twoids:1', inputs: [{ path: '/in', tags: [`knit#id:${first.id}`, `knit#id:${later.id}`] }] });
  await data('suite:bytime');
  await settle();
  t.is((await runsOf(both.id)).length, 0);
});

test.serial('outputsFeedAPlan: only a done run whose output some plan input takes wakes the matcher', async (t) => {
  const feeder = await plan({ image: 'x/feed:1', inputs: [{ path: '/in', tags: ['suite:feed'] }], outputs: [{ path: '/out', tags: ['suite:feed-out', 'kind:x'] }] });
  await data('suite:feed');
  await data('suite:feed');
  await settle();
  const [r1, r2] = await runsOf(feeder.id);
  const content = (dataId: string) => ({ dataId, size: 1, digest, blobKey: `data/${dataId}` });
  const finish = async (id: string, status: 'done' | 'failed') => {
    const b = await withTx(db.pool, (tx) => beginAttempt(tx, id));
    if (!b.begun) throw new Error('not begun');
    const c = b.context;
    for (const s of ['ready', 'starting', 'running'] as const) await db.pool.query('UPDATE run SET status = $2 WHERE id = $1', [c.runId, s]);
    await withTx(db.pool, (tx) => finishAttempt(tx, c.runId, c.attempt, { status, exitCode: status === 'done' ? 0 : 1, message: null, contents: [...c.outputs.map((o) => content(o.dataId)), content(c.log.dataId)] }));
  };
  await finish(r1!.id, 'done');
  await finish(r2!.id, 'failed');
  t.false(await outputsFeedAPlan(db.pool, r1!.id), 'no plan takes suite:feed-out');
  // One tag of two is not enough; both are.
  await plan({ image: 'x/half:1', inputs: [{ path: '/in', tags: ['suite:feed-out', 'kind:y'] }] });
  t.false(await outputsFeedAPlan(db.pool, r1!.id));
  await plan({ image: 'x/next:1', inputs: [{ path: '/in', tags: ['suite:feed-out', 'kind:x'] }] });
  t.true(await outputsFeedAPlan(db.pool, r1!.id));
  t.false(await outputsFeedAPlan(db.pool, r2!.id), 'a failed run has no eligible outputs');
});
