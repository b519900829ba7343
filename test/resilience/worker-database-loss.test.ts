import test from 'ava';
import pg from 'pg';
import { migrate } from '../../core/db/migrate.js';
import { openPool } from '../../core/db/pool.js';
import { PrivatePostgres } from '../helpers/private-postgres.js';
import { TestStack, terminal } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The worker's connections killed while an activity holds one in a transaction (as a PostgreSQL
 * restart or crash recovery does): the worker process stays up, the activity fails and Temporal
 * retries it, and the run completes once the database serves again.
 */

/** The matcher's advisory lock, MATCH_LOCK in core/run/matching.ts. */
const MATCH_LOCK = 7_420_003;

const onServer = process.env['DATABASE_URL'] && process.env['KNIT_TEST_DB'] !== 'pglite' ? test : test.skip;

onServer('worker backends terminated mid-transaction in reconcile: the worker survives and the run completes', async (t) => {
  const s = await TestStack.start();
  t.teardown(() => s.close());
  const worker = s.worker!;
  let exited: string | undefined;
  worker.once('exit', (code, signal) => (exited = `code ${code}, signal ${signal}`));
  const dbName = new URL(s.db.url).pathname.slice(1);

  const plan = await s.plan({
    script: 'echo ok > /out/o/result',
    inputs: [{ path: '/in', tags: ['dbloss:in'] }],
    outputs: [{ path: '/out/o', tags: ['dbloss:out'] }],
  });

  // Matching takes its advisory lock (core/run/matching.ts) inside its transaction; holding that
  // lock here makes reconcile wait there, mid-transaction.
  const locker = new pg.Client({ connectionString: s.db.url });
  locker.on('error', () => {});
  await locker.connect();
  t.teardown(() => locker.end().catch(() => {}));
  await locker.query('SELECT pg_advisory_lock($1)', [MATCH_LOCK]);
  await s.push({ x: '1' }, ['dbloss:in']);

  const workerBackends = (where: string) =>
    s.db.pool.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'knit-worker' ${where}`, [dbName]);
  await waitFor('reconcile to wait on the lock inside its transaction', async () => (await workerBackends(`AND wait_event_type = 'Lock' AND wait_event = 'advisory' AND state = 'active' AND xact_start IS NOT NULL`)).rowCount! > 0);
  // Every connection of the worker goes: the one in the transaction and the idle ones.
  const killed = await s.db.pool.query<{ ok: boolean }>(
    `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND application_name = 'knit-worker'`,
    [dbName],
  );
  t.true(killed.rows.length > 0 && killed.rows.every((r) => r.ok));

  // The retried reconcile waits on the lock again, on a new connection, in the same process.
  await waitFor('the retried reconcile to wait on the lock', async () => exited ?? ((await workerBackends(`AND wait_event_type = 'Lock' AND wait_event = 'advisory' AND state = 'active' AND xact_start IS NOT NULL`)).rowCount! > 0));
  t.is(exited, undefined, `the worker exited:\n${s.workerLog.slice(-3000)}`);
  await locker.query('SELECT pg_advisory_unlock($1)', [MATCH_LOCK]);

  const [run] = await s.waitRuns('the run to end', (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [plan.id] });
  t.is(run!.status, 'done', `${run!.message}\n${s.workerLog.slice(-3000)}`);
  t.is(exited, undefined, `the worker exited:\n${s.workerLog.slice(-3000)}`);
  t.notRegex(s.workerLog, /Unhandled 'error' event/);
});

test('PostgreSQL crashes and recovers while reconcile holds a connection in a transaction: the worker survives and the run completes', async (t) => {
  const server = await PrivatePostgres.create();
  t.teardown(() => server.destroy());
  const s = await TestStack.start({
    database: async () => {
      const pool = openPool(server.url(), { max: 10 });
      await migrate(pool);
      return { url: server.url(), pool, kind: 'postgres', drop: () => pool.end() };
    },
  });
  t.teardown(() => s.close());
  const worker = s.worker!;
  let exited: string | undefined;
  worker.once('exit', (code, signal) => (exited = `code ${code}, signal ${signal}`));

  const plan = await s.plan({
    script: 'echo ok > /out/o/result',
    inputs: [{ path: '/in', tags: ['crashrecovery:in'] }],
    outputs: [{ path: '/out/o', tags: ['crashrecovery:out'] }],
  });
  const locker = new pg.Client({ connectionString: server.url() });
  locker.on('error', () => {});
  await locker.connect();
  await locker.query('SELECT pg_advisory_lock($1)', [MATCH_LOCK]);
  await s.push({ x: '1' }, ['crashrecovery:in']);
  await waitFor('reconcile to wait on the lock inside its transaction', async () => {
    const r = await locker.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'knit-worker' AND wait_event = 'advisory' AND xact_start IS NOT NULL`);
    return r.rowCount! > 0;
  });

  // A crash: every backend is gone at once, and connecting fails until recovery is over.
  await server.stop('immediate');
  await locker.end().catch(() => {});
  await new Promise((r) => setTimeout(r, 2000));
  t.is(exited, undefined, `the worker exited while the database was down:\n${s.workerLog.slice(-3000)}`);
  await server.start();
  t.regex(server.serverLog(), /database system was interrupted|not properly shut down|redo/);

  const [run] = await s.waitRuns('the run to end', (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [plan.id] });
  t.is(run!.status, 'done', `${run!.message}\n${s.workerLog.slice(-3000)}`);
  t.is(exited, undefined, `the worker exited:\n${s.workerLog.slice(-3000)}`);
  t.notRegex(s.workerLog, /Unhandled 'error' event/);
});
