import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from '../core/db/pool.js';
import { callAfterHooks, callBeforeHooks, HookEnvInvalid, HookRefused, type HookSettings } from '../core/hooks/hooks.js';
import { kfRun } from '../core/knitfab/run-detail.js';
import type { Logger } from '../core/log/logger.js';
import { canTransition, type RunStatus } from '../core/run/status.js';
import { getRun } from '../core/run/store.js';

export interface HookDeps {
  pool: Pool;
  log: Logger;
  /** Unset or empty: no hooks, and the workflow calls none of these. */
  hooks?: HookSettings | undefined;
}

export interface HookCall {
  runId: string;
  /** The attempt the change belongs to; unset before the attempt began (waiting → ready). */
  attempt?: number;
  to: RunStatus;
}

function cancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined; // called outside an activity (a unit test, or runContainer's own call)
  }
}

/**
 * The after hooks of the change of `runId` to `to`, with the run as it is now. At most once:
 * never retried, never failing (the run does not wait on them beyond one timeout); failures go
 * to the worker's log. Skipped if the run is not `to` (another attempt, or it moved on).
 */
export async function runAfterHooks(deps: HookDeps, call: HookCall): Promise<void> {
  const urls = deps.hooks?.after ?? [];
  if (urls.length === 0) return;
  try {
    const run = await getRun(deps.pool, call.runId);
    if (!run || run.status !== call.to || (call.attempt !== undefined && run.attempt !== call.attempt)) return;
    const body = await kfRun(deps.pool, run, new Map());
    const signal = cancellation();
    const problems = await callAfterHooks(urls, body, { timeoutMs: deps.hooks!.timeoutMs, ...(signal ? { signal } : {}) });
    for (const p of problems) deps.log.warn({ runId: call.runId, status: call.to }, `after hook failed (ignored): ${p}`);
  } catch (err) {
    deps.log.warn({ err, runId: call.runId, status: call.to }, 'after hooks could not be called (ignored)');
  }
}

/** The lifecycle hooks as activities (plain async functions; the workflow decides what a refusal means). */
export function hookActivities(deps: HookDeps) {
  return {
    /**
     * The before hooks of the change of `runId` to `to`, with the run as it is before it, in order.
     * A refusal throws a retryable failure naming the hook and its answer, so Temporal retries
     * it with backoff within the workflow's budget (KNIT_HOOKS_BEFORE_ATTEMPTS). Nothing is called,
     * and `called` is false, when the run can no longer make that change (a repeated step).
     * On ready → starting, returns the environment the hooks asked for; a bad one fails at once.
     */
    async beforeHooks(call: HookCall): Promise<{ called: boolean; env: Record<string, string> }> {
      const urls = deps.hooks?.before ?? [];
      if (urls.length === 0) return { called: false, env: {} };
      const run = await getRun(deps.pool, call.runId);
      if (!run || !canTransition(run.status, call.to) || (call.attempt !== undefined && run.attempt !== call.attempt)) return { called: false, env: {} };
      const body = await kfRun(deps.pool, run, new Map());
      const signal = cancellation();
      try {
        const env = await callBeforeHooks(urls, body, { timeoutMs: deps.hooks!.timeoutMs, env: call.to === 'starting', ...(signal ? { signal } : {}) });
        return { called: true, env };
      } catch (err) {
        if (err instanceof HookRefused) throw ApplicationFailure.retryable(`before hook ${err.url} refused ${run.status} → ${call.to}: it ${err.answer}`, 'HookRefused');
        if (err instanceof HookEnvInvalid) throw ApplicationFailure.nonRetryable(err.message, 'HookEnvInvalid');
        throw err;
      }
    },

    async afterHooks(call: HookCall): Promise<void> {
      await runAfterHooks(deps, call);
    },
  };
}
