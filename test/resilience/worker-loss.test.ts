import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { matcherWorkflowId } from '../../workflows/definitions.js';
import { TestStack, terminal } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A worker SIGKILLed while it holds an activity, with a second worker running: the activity
 * moves to the second one after the heartbeat timeout (seconds), not after the activity's whole
 * timeout (5 minutes for a step such as createContainer, 10 for reconcile), which a heartbeat-less
 * activity would wait out. The heartbeat timeout here is short; the long timeouts are the defaults.
 */

const HEARTBEAT_TIMEOUT_MS = 5_000;
const STEP_TIMEOUT_MS = 5 * 60_000;
const RECONCILE_TIMEOUT_MS = 10 * 60_000;
/** Only keeps a broken test from hanging; well under the timeouts a lost worker used to cost. */
const DEADLINE_MS = 120_000;

const workerEnv = { KNIT_HEARTBEAT_TIMEOUT: `${HEARTBEAT_TIMEOUT_MS / 1000}s`, KNIT_STEP_TIMEOUT: `${STEP_TIMEOUT_MS / 60_000}m` };

async function kill(worker: ChildProcess): Promise<number> {
  const gone = new Promise((r) => worker.once('exit', r));
  const at = Date.now();
  worker.kill('SIGKILL');
  await gone;
  return at;
}

function killOnTeardown(t: { teardown(fn: () => void): void }, worker: ChildProcess): void {
  t.teardown(() => {
    if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
  });
}

test('a worker killed while it creates a container (a long image pull): the run completes on the other worker', async (t) => {
  const s = await TestStack.start({ workerEnv });
  t.teardown(() => s.close());
  await s.stopWorker();
  const marker = join(s.home, 'create-container-held');
  const first = await s.startWorker({ KNIT_FAULT: 'createContainer:hang', KNIT_FAULT_MARKER: marker });
  killOnTeardown(t, first);

  const plan = await s.plan({
    script: 'echo ok > /out/o/result',
    inputs: [{ path: '/in', tags: ['workerloss:create'] }],
    outputs: [{ path: '/out/o', tags: ['workerloss:created'] }],
  });
  await s.push({ x: '1' }, ['workerloss:create']);
  await waitFor('the first worker to hold createContainer', () => existsSync(marker));
  await s.startWorker();
  // Held past its heartbeat timeout while the worker lives: it heartbeats, so it stays there.
  await new Promise((r) => setTimeout(r, HEARTBEAT_TIMEOUT_MS * 2));
  const [held] = await s.runs({ plans: [plan.id] });
  t.true(held!.status === 'ready' || held!.status === 'starting', `still held by the first worker: ${held!.status}`);

  const killedAt = await kill(first);
  const [run] = await s.waitRuns('the run to end on the other worker', (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [plan.id] }, DEADLINE_MS);
  const took = Date.now() - killedAt;
  t.is(run!.status, 'done', `${run!.message}\n${s.workerLog.slice(-3000)}`);
  t.true(took < STEP_TIMEOUT_MS, `${took} ms`);
  t.log(`createContainer: from the kill to the run done on the other worker: ${took} ms (heartbeat timeout ${HEARTBEAT_TIMEOUT_MS} ms)`);
});

/** The matcher's advisory lock, MATCH_LOCK in core/run/matching.ts. */
const MATCH_LOCK = 7_420_003;

const onServer = process.env['DATABASE_URL'] && process.env['KNIT_TEST_DB'] !== 'pglite' ? test : test.skip;

onServer('a worker killed while reconcile waits on the matching lock: runs are created by the other worker', async (t) => {
  const s = await TestStack.start({ workerEnv });
  t.teardown(() => s.close());
  const first = s.worker!;
  killOnTeardown(t, first);
  const dbName = new URL(s.db.url).pathname.slice(1);

  const locker = new pg.Client({ connectionString: s.db.url });
  locker.on('error', () => {});
  await locker.connect();
  t.teardown(() => locker.end().catch(() => {}));
  await locker.query('SELECT pg_advisory_lock($1)', [MATCH_LOCK]);
  const plan = await s.plan({
    script: 'echo ok > /out/o/result',
    inputs: [{ path: '/in', tags: ['workerloss:match'] }],
    outputs: [{ path: '/out/o', tags: ['workerloss:matched'] }],
  });
  await s.push({ x: '1' }, ['workerloss:match']);
  await waitFor('reconcile to wait on the matching lock', async () => {
    const r = await s.db.pool.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'knit-worker' AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
      [dbName],
    );
    return r.rowCount! > 0;
  });
  // A live worker's reconcile waits as long as the lock takes: heartbeats keep it its own.
  await new Promise((r) => setTimeout(r, HEARTBEAT_TIMEOUT_MS * 2));
  const matcher = await s.temporal.workflow.getHandle(matcherWorkflowId(s.instance)).describe();
  const pending = matcher.raw.pendingActivities ?? [];
  t.is(pending.length, 1);
  t.is(pending[0]?.activityType?.name, 'reconcile');
  t.is(pending[0]?.attempt, 1, 'not timed out while its worker lives');

  await s.startWorker();
  const killedAt = await kill(first);
  await locker.query('SELECT pg_advisory_unlock($1)', [MATCH_LOCK]);
  const [run] = await s.waitRuns('the run to be created and end on the other worker', (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [plan.id] }, DEADLINE_MS);
  const took = Date.now() - killedAt;
  t.is(run!.status, 'done', `${run!.message}\n${s.workerLog.slice(-3000)}`);
  t.true(took < RECONCILE_TIMEOUT_MS, `${took} ms`);
  t.log(`reconcile: from the kill to the run done on the other worker: ${took} ms (heartbeat timeout ${HEARTBEAT_TIMEOUT_MS} ms)`);
});

test('a worker killed while it holds a local activity (finishAttempt): the run is finished by the other worker once its workflow task times out', async (t) => {
  const s = await TestStack.start({ workerEnv });
  t.teardown(() => s.close());
  await s.stopWorker();
  const marker = join(s.home, 'finish-attempt-held');
  const first = await s.startWorker({ KNIT_FAULT: 'finishAttempt:hang', KNIT_FAULT_MARKER: marker });
  killOnTeardown(t, first);
  const plan = await s.plan({
    script: 'echo ok > /out/o/result',
    inputs: [{ path: '/in', tags: ['workerloss:finish'] }],
    outputs: [{ path: '/out/o', tags: ['workerloss:finished'] }],
  });
  await s.push({ x: '1' }, ['workerloss:finish']);
  await waitFor('the first worker to hold finishAttempt', () => existsSync(marker), DEADLINE_MS);
  await s.startWorker();
  const killedAt = await kill(first);
  const [run] = await s.waitRuns('the run to end on the other worker', (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [plan.id] }, DEADLINE_MS);
  const took = Date.now() - killedAt;
  t.is(run!.status, 'done', `${run!.message}\n${s.workerLog.slice(-3000)}`);
  // Local activities live in the workflow task: they move when it times out (Temporal's default
  // workflow task timeout, 10 s), not after their own start-to-close timeout (the step timeout).
  t.true(took < STEP_TIMEOUT_MS, `${took} ms`);
  t.log(`finishAttempt (local): from the kill to the run done on the other worker: ${took} ms`);
});
