import type { Client } from '@temporalio/client';
import { taskQueues } from '../config/temporal.js';
import { matcherWorkflowId, wakeSignal, type MatcherArgs } from '../../workflows/definitions.js';

/**
 * Signals the matcher of `instance` that the outbox has news, starting it if it is not running:
 * whoever commits a change (the API, a finishing run) calls this. A worker also says, in `start`,
 * what it knows of its own configuration (the heartbeat timeout), for a matcher it starts.
 */
export async function wakeMatcher(client: Client, instance: string, start: Omit<MatcherArgs, 'cursor'> = {}): Promise<void> {
  await client.workflow.signalWithStart('matcher', {
    workflowId: matcherWorkflowId(instance),
    taskQueue: taskQueues(instance).main,
    args: [{ cursor: 0, ...start } satisfies MatcherArgs],
    signal: wakeSignal,
    signalArgs: [],
  });
}
