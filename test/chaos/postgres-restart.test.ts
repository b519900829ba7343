import test from 'ava';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeInstanceContainers } from '../helpers/containers.js';
import { applyChain, assertChainExactlyOnce, pushChainInput, type Chain } from '../helpers/chain.js';
import { watchContainerCreates } from '../helpers/docker-events.js';
import { PrivatePostgres } from '../helpers/private-postgres.js';
import { TestStack, terminal } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const PUSHES = 4;

/** Pushes until the API accepts it: while the database recovers, an honest 5xx is allowed, a lie is not. */
async function pushAccepted(s: TestStack, chain: Chain, n: number): Promise<string> {
  const got = await waitFor(`push ${n} to be accepted`, () => (dead(s) ? 'dead' : pushChainInput(s.client, chain, n)), 60_000, 500).catch((err: Error) => {
    assertAlive(s);
    throw err;
  });
  assertAlive(s);
  return got;
}

const dead = (s: TestStack) => [s.api!.child, s.worker].some((p) => !p || p.exitCode !== null || p.signalCode !== null);

/** Fails with the dead process's last words when knitd or the worker has exited. */
function assertAlive(s: TestStack): void {
  const api = s.api!.child;
  if (api.exitCode !== null || api.signalCode !== null) throw new Error(`knitd exited (${api.exitCode ?? api.signalCode}):\n${s.api!.stderr().slice(-3000)}`);
  const w = s.worker;
  if (!w || w.exitCode !== null || w.signalCode !== null) throw new Error(`the worker exited (${w?.exitCode ?? w?.signalCode}):\n${s.workerLog.slice(-3000)}`);
}

/**
 * PostgreSQL crashed (SIGQUIT, with WAL recovery on restart) while runs are in flight, and
 * connections of knitd and the worker killed in the middle of their transactions: neither process
 * may exit, and no run may be lost or duplicated. The server is the test's own.
 */
test('PostgreSQL restarted mid-run and connections killed mid-transaction: no process exits, no run lost or duplicated', async (t) => {
  t.timeout(5 * 60_000);
  const server = await PrivatePostgres.create();
  t.teardown(() => server.destroy());
  const s = await TestStack.start({ databaseServerUrl: server.url(), apiProcess: true, workerEnv: { KNIT_HEARTBEAT_TIMEOUT: '4s', KNIT_STEP_TIMEOUT: '10s' } });
  t.teardown(() => s.close());
  t.teardown(() => removeInstanceContainers(s.instance));
  const apiPid = s.api!.child.pid;
  const workerPid = s.worker!.pid;
  const creates = watchContainerCreates(`knit.instance=${s.instance}`, 'knit.run');
  t.teardown(() => void creates.stop());
  await creates.ready;
  const chain = await applyChain(s.client, 'pgkill', { sleepA: 3 });
  const pushed: string[] = [];
  pushed.push(await pushChainInput(s.client, chain, 0));
  pushed.push(await pushChainInput(s.client, chain, 1));
  await s.waitRuns('an A-run to run', (rs) => rs.some((r) => r.status === 'running'), { plans: [chain.a.id] });

  // 1. A crash of the whole server, down for a few seconds.
  await server.stop('immediate');
  await sleep(3000);
  await server.start();
  pushed.push(await pushAccepted(s, chain, 2));

  // 2. knitd's connection killed while its transaction waits on a lock (the issue's repro).
  const dbName = new URL(s.db.url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: server.url() });
  admin.on('error', () => {});
  await admin.connect();
  t.teardown(() => admin.end().catch(() => {}));
  const locker = new pg.Client({ connectionString: s.db.url });
  locker.on('error', () => {});
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE outbox IN EXCLUSIVE MODE');
  const blocked = pushChainInput(s.client, chain, 3).then(
    (id) => ({ id }),
    (err: Error) => ({ err }),
  );
  const waiting = await waitFor(
    'a knitd backend to wait on the outbox lock',
    async () => {
      const r = await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'knitd' AND wait_event_type = 'Lock'`, [dbName]);
      return r.rows[0]?.pid;
    },
    30_000,
    100,
  );
  await admin.query('SELECT pg_terminate_backend($1)', [waiting]);
  await locker.query('ROLLBACK');
  await locker.end();
  const outcome = await blocked;
  t.log('the push whose connection was killed:', 'id' in outcome ? `accepted ${outcome.id}` : `refused: ${outcome.err.message}`);
  pushed.push('id' in outcome ? outcome.id : await pushAccepted(s, chain, 3));

  // 3. Every connection of knitd and the worker killed, a few times, while runs go on.
  for (let i = 0; i < 5; i++) {
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name IN ('knitd', 'knit-worker')`, [dbName]);
    await sleep(700);
  }

  await waitFor(
    'every run to end',
    async () => {
      if (dead(s)) return true;
      const rs = await s.runs({ plans: [chain.a.id, chain.b.id] });
      return rs.length === 2 * PUSHES && rs.every(terminal);
    },
    180_000,
    250,
  ).catch(async (err: Error) => {
    assertAlive(s);
    const rs = await s.runs({ plans: [chain.a.id, chain.b.id] });
    t.log('runs:', rs.map((r) => `${r.id.slice(0, 8)} ${r.status}${r.message ? ` (${r.message})` : ''}`).join(', '));
    t.log(`worker log:\n${s.workerLog.slice(-3000)}`);
    throw err;
  });
  assertAlive(s);
  t.is(s.api!.child.exitCode, null, `knitd is alive:\n${s.api!.stderr().slice(-2000)}`);
  t.is(s.api!.child.pid, apiPid);
  t.is(s.worker?.exitCode, null, `the worker is alive:\n${s.workerLog.slice(-2000)}`);
  t.is(s.worker?.pid, workerPid);
  await assertChainExactlyOnce(t, s, chain, pushed, creates);
});
