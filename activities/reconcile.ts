import type { Client } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import type { Pool } from '../core/db/pool.js';
import type { Logger } from '../core/log/logger.js';
import { markWorkflowStarted, matchOutbox, runsToStart } from '../core/run/matching.js';
import { PLAN_ID, RUN_STATUS, runWorkflowId, type RunArgs } from '../workflows/definitions.js';
import type { RunOptions } from '../workflows/run.js';
import { throttledHeartbeat } from './heartbeat.js';

export interface ReconcileDeps {
  pool: Pool;
  client: Client;
  log: Logger;
  config: {
    taskQueue: string;
    containerQueue: string;
    heartbeatTimeout: string;
    stepTimeout: string;
    /** Workflows started per reconcile; the matcher comes back at once for the rest. */
    startBatch: number;
  };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export function reconcileActivities(deps: ReconcileDeps) {
  const { pool, client, config } = deps;

  /**
   * Starts a workflow for each run that is waiting without one. The id is `run-<runId>`; an
   * execution already running for it is reused, never doubled. A start that is lost to a crash
   * is simply made again next time: the run is still waiting without one.
   */
  async function startWaitingRuns(): Promise<number> {
    const runs = await runsToStart(pool, config.startBatch);
    const beat = throttledHeartbeat();
    await eachLimited(runs, 16, async (r) => {
      const args: RunArgs = { runId: r.id };
      await client.workflow.start('run', {
        workflowId: runWorkflowId(r.id),
        taskQueue: config.taskQueue,
        args: [args, { containerQueue: config.containerQueue, heartbeatTimeout: config.heartbeatTimeout, stepTimeout: config.stepTimeout } satisfies RunOptions],
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        typedSearchAttributes: [
          { key: PLAN_ID, value: r.planId },
          { key: RUN_STATUS, value: 'waiting' },
        ],
      });
      await markWorkflowStarted(pool, r.id, r.attempt);
      beat();
    });
    return runs.length;
  }

  return {
    /** Outbox to runs, then runs to workflows. Returns whether there is more to do right away. */
    async reconcile(args: { cursor: number }): Promise<{ cursor: number; more: boolean; created: number; started: number }> {
      const matched = await matchOutbox(pool);
      const started = await startWaitingRuns();
      if (matched.created + started > 0) deps.log.info({ events: matched.events, created: matched.created, started }, 'reconciled');
      return {
        cursor: Math.max(args.cursor, matched.highWater),
        more: matched.more || started === config.startBatch,
        created: matched.created,
        started,
      };
    },
  };
}
