import type { Client } from '@temporalio/client';
import { taskQueues } from '../config/temporal.js';
import { matcherWorkflowId, wakeSignal, type MatcherArgs } from '../../workflows/definitions.js';

/**
 * Signals the matcher of `instance` that the outbox has news, starting it if it is not running:
 * whoever commits a change (the API, a finishing run) calls this.
 */
export async function wakeMatcher(client: Client, instance: string): Promise<void> {
  await client.workflow.signalWithStart('matcher', {
    workflowId: matcherWorkflowId(instance),
    taskQueue: taskQueues(instance).main,
    args: [{ cursor: 0 } satisfies MatcherArgs],
    signal: wakeSignal,
    signalArgs: [],
  });
}
