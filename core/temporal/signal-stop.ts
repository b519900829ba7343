import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { runWorkflowId, stopSignal } from '../../workflows/definitions.js';

/** How long one stop signal may wait for Temporal before the caller treats it as not delivered. */
const SIGNAL_DEADLINE_MS = 5_000;

/**
 * Passes a recorded stop to the run's workflow. A workflow that does not exist (not started yet,
 * or closed) counts as reached: the request is in the database, where the workflow started
 * later, or anew, finds it. Throws when Temporal cannot be reached: the stop stays to deliver.
 */
export async function signalStop(client: Client, runId: string, mode: 'stop' | 'fail'): Promise<void> {
  try {
    await client.connection.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () => client.workflow.getHandle(runWorkflowId(runId)).signal(stopSignal, mode));
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}
