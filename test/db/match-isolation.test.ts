import test from 'ava';
import pg from 'pg';
import { withTx } from '../../core/db/pool.js';
import { getPlan, setPlanActive } from '../../core/plan/db.js';
import { toPlanDetail } from '../../core/plan/model.js';
import { matchOutbox, type MatchOptions } from '../../core/run/matching.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testData, testPlan } from '../helpers/records.js';

let db: TestDatabase;
test.before(async () => {
  db = await createTestDatabase();
});
test.after.always(() => db?.drop());

const data = (...tags: string[]) => testData(db.pool, ...tags);
const plan = (spec: unknown) => testPlan(db.pool, spec);

async function runCount(planId: string): Promise<number> {
  return (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM run WHERE plan_id = $1', [planId])).rows[0]!.n;
}

async function detail(planId: string) {
  return toPlanDetail((await getPlan(db.pool, planId))!, { upstreams: [], downstreams: [] });
}

async function settle(opts: MatchOptions = {}) {
  const failed: string[] = [];
  for (;;) {
    const r = await matchOutbox(db.pool, opts);
    failed.push(...r.failed.map((f) => f.planId));
    if (!r.more) return failed;
  }
}

/** As if the plan's back-off had passed. */
async function backoffPassed(planId: string) {
  await db.pool.query("UPDATE plan SET match_retry_at = now() - interval '1 second' WHERE id = $1", [planId]);
}

test.serial('a plan that would create too many runs at once is marked and skipped; the other plans still match', async (t) => {
  for (let i = 0; i < 3; i++) await data('suite:big', 'side:a');
  for (let i = 0; i < 3; i++) await data('suite:big', 'side:b');
  const big = await plan({ image: 'x/big:1', inputs: [{ path: '/a', tags: ['suite:big', 'side:a'] }, { path: '/b', tags: ['suite:big', 'side:b'] }] });
  const small = await plan({ image: 'x/small:1', inputs: [{ path: '/a', tags: ['suite:big', 'side:a'] }] });
  t.deepEqual(await settle({ maxRunsPerPlan: 5 }), [big.id]);
  t.is(await runCount(big.id), 0, 'nothing half-created');
  t.is(await runCount(small.id), 3);
  t.is((await db.pool.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n, 0, 'the outbox is not blocked');
  const marked = await detail(big.id);
  t.regex(marked.matchError!.message, /at least 9 runs at once, more than the 5/);
  t.is(marked.matchError!.failures, 1);
  t.true(Date.parse(marked.matchError!.retryAt) > Date.parse(marked.matchError!.failedAt), 'retried later, not at once');
  t.is((await detail(small.id)).matchError, null);

  // New Data for the marked plan waits for its full retry; before its back-off nothing is tried.
  await data('suite:big', 'side:a');
  t.deepEqual(await settle({ maxRunsPerPlan: 5 }), []);
  t.is(await runCount(big.id), 0);
  t.is(await runCount(small.id), 4, 'the other plan takes the new Data');

  // Retried after the back-off, still over the bound: marked again, backing off further.
  await backoffPassed(big.id);
  t.deepEqual(await settle({ maxRunsPerPlan: 5 }), [big.id]);
  t.is((await detail(big.id)).matchError!.failures, 2);

  // A later pass that succeeds creates every combination and clears the mark.
  await backoffPassed(big.id);
  t.deepEqual(await settle(), []);
  t.is(await runCount(big.id), 12);
  t.is((await detail(big.id)).matchError, null);
});

test.serial('reactivating a marked plan reconciles it in full and clears the mark', async (t) => {
  for (let i = 0; i < 2; i++) await data('suite:react', 'side:a');
  for (let i = 0; i < 2; i++) await data('suite:react', 'side:b');
  const p = await plan({ image: 'x/react:1', inputs: [{ path: '/a', tags: ['suite:react', 'side:a'] }, { path: '/b', tags: ['suite:react', 'side:b'] }] });
  t.deepEqual(await settle({ maxRunsPerPlan: 3 }), [p.id]);
  t.not((await detail(p.id)).matchError, null);
  await withTx(db.pool, (tx) => setPlanActive(tx, p.id, false));
  await withTx(db.pool, (tx) => setPlanActive(tx, p.id, true));
  t.deepEqual(await settle(), []);
  t.is(await runCount(p.id), 4);
  t.is((await detail(p.id)).matchError, null);
});

test.serial('a plan whose run creation exceeds its statement time is rolled back and marked; the other plan matches', async (t) => {
  // PGlite serves one session at a time: the lock that makes one plan slow would hold every plan.
  if (db.kind === 'pglite') return void t.pass('needs concurrent sessions: PostgreSQL only');
  const stuckData = await data('suite:slow-a');
  await data('suite:slow-b');
  const stuck = await plan({ image: 'x/slow-a:1', inputs: [{ path: '/in', tags: ['suite:slow-a'] }] });
  const free = await plan({ image: 'x/slow-b:1', inputs: [{ path: '/in', tags: ['suite:slow-b'] }] });
  // Another session holds the same run key uncommitted: inserting it waits for that session.
  const holder = new pg.Client({ connectionString: db.url });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query(`INSERT INTO run (id, plan_id, input_key, status) VALUES (gen_random_uuid(), $1, $2, 'waiting')`, [stuck.id, stuckData.id]);
    const started = Date.now();
    t.deepEqual(await settle({ planTimeoutMs: 300 }), [stuck.id]);
    t.true(Date.now() - started < 10_000);
    t.is(await runCount(free.id), 1);
    t.regex((await detail(stuck.id)).matchError!.message, /took longer than 300 ms/);
  } finally {
    await holder.query('ROLLBACK');
    await holder.end();
  }
  await backoffPassed(stuck.id);
  t.deepEqual(await settle(), []);
  t.is(await runCount(stuck.id), 1);
  t.is((await detail(stuck.id)).matchError, null);
});

test.serial('16 inputs over the same 4 Data (4^16 combinations) are refused at once with the default bound, not enumerated', async (t) => {
  for (let i = 0; i < 4; i++) await data('suite:cross');
  const wide = await plan({ image: 'x/cross:1', inputs: Array.from({ length: 16 }, (_, i) => ({ path: `/in/${i}`, tags: ['suite:cross'] })) });
  const started = Date.now();
  t.deepEqual(await settle(), [wide.id]);
  t.true(Date.now() - started < 10_000);
  t.is(await runCount(wide.id), 0);
  t.regex((await detail(wide.id)).matchError!.message, /at least 4294967296 runs at once, more than the 100000/);
});
