import { Client, Connection } from '@temporalio/client';
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { deliverStops } from '../../activities/deliver-stops.js';
import { withTx } from '../../core/db/pool.js';
import { createLogger } from '../../core/log/logger.js';
import { requestStop } from '../../core/run/actions.js';
import { runWorkflowId } from '../../workflows/definitions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { matchedRuns } from '../helpers/records.js';
import { temporalAddress } from '../helpers/stack.js';

/**
 * deliverStops against a real Temporal server and database: recorded stops that never reached
 * their run's workflow are signalled once, and kept for later while Temporal is out of reach.
 */
let db: TestDatabase;
let connection: Connection;
let client: Client;
const log = createLogger('test', 'silent');
// No worker polls it: the workflows stay open, and their histories show what they were sent.
const taskQueue = `deliver-stops-${randomUUID().slice(0, 8)}`;

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

async function stopSignals(runId: string): Promise<string[]> {
  const history = await client.workflow.getHandle(runWorkflowId(runId)).fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).map((e) => String(e.workflowExecutionSignaledEventAttributes!.signalName));
}

async function delivered(runId: string): Promise<boolean> {
  return (await db.pool.query<{ stop_delivered: boolean }>('SELECT stop_delivered FROM run WHERE id = $1', [runId])).rows[0]!.stop_delivered;
}

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

test.serial('recorded stops reach their workflows once; a run without a workflow counts as reached; runs that are over are left alone', async (t) => {
  const [live, noWorkflow, over] = await runs(3);
  await db.pool.query(`UPDATE run SET status = 'running', workflow_started = true WHERE id = ANY($1::uuid[])`, [[live, noWorkflow, over]]);
  await client.workflow.start('run', { workflowId: runWorkflowId(live!), taskQueue, args: [{ runId: live }] });
  t.teardown(() => client.workflow.getHandle(runWorkflowId(live!)).terminate().catch(() => {}));
  for (const id of [live!, noWorkflow!, over!]) await withTx(db.pool, (tx) => requestStop(tx, id, false));
  await db.pool.query(`UPDATE run SET status = 'done' WHERE id = $1`, [over]);

  t.is(await deliverStops({ pool: db.pool, client, log }), 2);
  t.deepEqual(await stopSignals(live!), ['stop']);
  t.true(await delivered(live!));
  t.true(await delivered(noWorkflow!), 'its workflow reads the stop from the run when it begins');
  t.false(await delivered(over!));

  t.is(await deliverStops({ pool: db.pool, client, log }), 0, 'nothing is sent twice');
  t.deepEqual(await stopSignals(live!), ['stop']);

  // Raised to --fail: a new request, delivered again.
  await withTx(db.pool, (tx) => requestStop(tx, live!, true));
  t.false(await delivered(live!));
  t.is(await deliverStops({ pool: db.pool, client, log }), 1);
  t.deepEqual(await stopSignals(live!), ['stop', 'stop']);
  t.true(await delivered(live!));
});

test.serial('while Temporal is out of reach, recorded stops stay to deliver', async (t) => {
  const [run] = await runs(1);
  await db.pool.query(`UPDATE run SET status = 'running', workflow_started = true WHERE id = $1`, [run]);
  await withTx(db.pool, (tx) => requestStop(tx, run!, true));
  const cutOff = new Client({ connection: Connection.lazy({ address: `127.0.0.1:${await closedPort()}` }) });
  t.teardown(() => cutOff.connection.close());
  t.is(await deliverStops({ pool: db.pool, client: cutOff, log }), 0);
  t.false(await delivered(run!));
  t.is(await deliverStops({ pool: db.pool, client, log }), 1, 'delivered once Temporal is reachable');
  t.true(await delivered(run!));
});
