import type { Client } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import type { Pool } from '../core/db/pool.js';
import type { Logger } from '../core/log/logger.js';
import { markWorkflowStarted, matchOutbox, runsToStart } from '../core/run/matching.js';
import { PLAN_ID, RUN_STATUS, runWorkflowId, type RunArgs } from '../workflows/definitions.js';
import type { RunOptions } from '../workflows/run.js';
import { deliverStops } from './deliver-stops.js';
import { heartbeating, throttledHeartbeat } from './heartbeat.js';
import { findClosedRuns } from './recover.js';

export interface ReconcileDeps {
  pool: Pool;
  client: Client;
  log: Logger;
  config: {
    taskQueue: string;
    containerQueue: string;
    heartbeatTimeout: string;
    stepTimeout: string;
    /** Given when lifecycle hooks are configured: every run workflow started then calls them. */
    hooks?: RunOptions['hooks'];
    /** Workflows started per reconcile; the matcher comes back at once for the rest. */
    startBatch: number;
    /** How long the matcher waits for a wake-up before it reconciles and sweeps anyway. */
    backstop: string;
    /**
     * The client shares this worker's NativeConnection: a run workflow's first task then comes
     * back in the start's own answer to this worker (eager start), instead of being queued and
     * polled for (issue 11). Another client cannot ask for it (the SDK refuses).
     */
    eagerStart?: boolean;
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

  /** Starts `run-<runId>`, or finds it already running: an execution is never doubled. */
  async function startRunWorkflow(args: RunArgs, planId: string, status: string): Promise<void> {
    await client.workflow.start('run', {
      workflowId: runWorkflowId(args.runId),
      taskQueue: config.taskQueue,
      args: [args, { containerQueue: config.containerQueue, heartbeatTimeout: config.heartbeatTimeout, stepTimeout: config.stepTimeout, ...(config.hooks ? { hooks: config.hooks } : {}) } satisfies RunOptions],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      ...(config.eagerStart ? { requestEagerStart: true } : {}),
      typedSearchAttributes: [
        { key: PLAN_ID, value: planId },
        { key: RUN_STATUS, value: status },
      ],
    });
  }

  /**
   * Starts a workflow for each run that is waiting without one. A start that is lost to a crash
   * is simply made again next time: the run is still waiting without one.
   */
  async function startWaitingRuns(): Promise<number> {
    const runs = await runsToStart(pool, config.startBatch);
    const beat = throttledHeartbeat();
    await eachLimited(runs, 16, async (r) => {
      await startRunWorkflow({ runId: r.id }, r.planId, 'waiting');
      await markWorkflowStarted(pool, r.id, r.attempt);
      beat();
    });
    return runs.length;
  }

  /** Gives each run whose workflow closed unfinished a new execution that finishes it. */
  async function recoverClosedRuns(): Promise<number> {
    const closed = await findClosedRuns({ pool, client, taskQueue: config.taskQueue });
    for (const c of closed) {
      deps.log.warn({ runId: c.runId, workflow: c.closedAs }, c.args.abandoned ? 'the workflow of a run in flight was closed; the run is finished as failed' : 'the workflow of a run in flight failed; the run resumes');
      await startRunWorkflow(c.args, c.planId, 'recovering');
    }
    return closed.length;
  }

  return {
    /**
     * Outbox to runs, then runs to workflows; on a backstop pass (`sweep`), also runs whose
     * workflow closed unfinished. Returns whether there is more to do right away, and when the
     * matcher should look again unprompted, and with which heartbeat timeout. It heartbeats also
     * while it waits on the matching lock or a long statement.
     */
    reconcile: heartbeating(async (args: { cursor: number; sweep?: boolean }): Promise<{ cursor: number; more: boolean; created: number; started: number; backstop: string; heartbeatTimeout: string }> => {
      const matched = await matchOutbox(pool);
      for (const f of matched.failed) deps.log.warn({ planId: f.planId, error: f.error }, 'matching a plan failed; its runs wait until a later pass succeeds');
      const started = await startWaitingRuns();
      await deliverStops(deps);
      const recovered = args.sweep ? await recoverClosedRuns() : 0;
      if (matched.created + started + recovered > 0) deps.log.info({ events: matched.events, created: matched.created, started, recovered }, 'reconciled');
      return {
        cursor: Math.max(args.cursor, matched.highWater),
        more: matched.more || started === config.startBatch,
        created: matched.created,
        started,
        backstop: config.backstop,
        heartbeatTimeout: config.heartbeatTimeout,
      };
    }),
  };
}
