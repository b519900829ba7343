import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { findClosedRuns } from '../../activities/recover.js';
import { runWorkflowId } from '../../workflows/definitions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { matchedRuns } from '../helpers/records.js';
import { temporalAddress } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });

/**
 * findClosedRuns against a real Temporal server and database: a run whose workflow was
 * terminated is to be finished as failed, one whose workflow failed is to be resumed, and runs
 * that are over, or already have a live execution, are left alone.
 */
let db: TestDatabase;
let connection: Connection;
let client: Client;
const taskQueue = `recover-${randomUUID().slice(0, 8)}`;

test.before(async () => {
  db = await createTestDatabase();
  connection = await Connection.connect({ address: temporalAddress() });
  client = new Client({ connection });
});
test.after.always(async () => {
  await connection?.close();
  await db?.drop();
});

const runs = (n: number) => matchedRuns(db.pool, n);

const start = (runId: string) => client.workflow.start('run', { workflowId: runWorkflowId(runId), taskQueue, args: [{ runId }] });

test('terminated and cancelled runs are finished as failed, failed ones resumed; finished or live ones are left alone', async (t) => {
  const [terminated, failed, over, live, cancelled] = await runs(5);
  await db.pool.query(`UPDATE run SET status = 'running', workflow_started = true WHERE id = ANY($1::uuid[])`, [[terminated, failed, live]]);
  await db.pool.query(`UPDATE run SET workflow_started = true WHERE id = $1`, [cancelled]);
  await db.pool.query(`UPDATE run SET status = 'done', workflow_started = true WHERE id = $1`, [over]);

  // No worker polls `taskQueue` yet, so these stay open until terminated.
  for (const id of [terminated!, over!, live!]) await (await start(id)).terminate('by an operator');
  const worker = await Worker.create({ connection: await NativeConnection.connect({ address: temporalAddress() }), taskQueue, workflowsPath: fileURLToPath(new URL('../fixtures/workflows/failing-run.js', import.meta.url)) });
  await worker.runUntil(async () => {
    await t.throwsAsync((await start(failed!)).result());
    // Cancelled before it could begin the run, which is still waiting.
    const waiting = await client.workflow.start('run', { workflowId: runWorkflowId(cancelled!), taskQueue, args: [{ runId: cancelled!, wait: true }] });
    await waitFor('the workflow to wait', async () => ((await waiting.fetchHistory()).events!.length > 3 ? true : undefined));
    await waiting.cancel();
    await t.throwsAsync(waiting.result());
  });
  // `live` got a new execution already: a sweep must not start another.
  await client.workflow.start('run', { workflowId: runWorkflowId(live!), taskQueue: `${taskQueue}-idle`, args: [{ runId: live! }] });

  const found = await waitFor('visibility to list the closed workflows', async () => {
    const f = await findClosedRuns({ pool: db.pool, client, taskQueue });
    return f.length === 3 ? f : undefined;
  });
  const byRun = new Map(found.map((c) => [c.runId, c]));
  t.deepEqual(byRun.get(terminated!)?.args, { runId: terminated!, abandoned: 'terminated' });
  t.is(byRun.get(terminated!)?.closedAs, 'TERMINATED');
  t.deepEqual(byRun.get(failed!)?.args, { runId: failed! });
  t.is(byRun.get(failed!)?.closedAs, 'FAILED');
  t.deepEqual(byRun.get(cancelled!)?.args, { runId: cancelled!, abandoned: 'cancelled' });
  await client.workflow.getHandle(runWorkflowId(live!)).terminate('test over');
});
