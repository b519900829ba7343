import { Context } from '@temporalio/activity';
import type { StoredContent } from '../core/run/attempt.js';
import type { AttemptContext } from '../core/run/model.js';
import type { Executor } from '../executor/executor.js';
import { containerGone, type attemptActivities } from './attempt.js';

type AttemptSteps = ReturnType<typeof attemptActivities>;
type Parts = Pick<AttemptSteps, 'stageInputs' | 'createContainer' | 'runContainer' | 'collectOutputs' | 'collectLog'>;

/** What a try that got past creating the container heartbeats first, so a later try knows it did. */
const CREATED = { created: true } as const;

/**
 * An attempt's steps in two activities instead of five, for runs without lifecycle hooks: nothing
 * has to happen between staging, creating and starting the container, or between storing the
 * outputs and the log, so each group is one activity, one round trip through Temporal and one
 * workflow task, where each step alone was one of each (issue 11). Every part is the same
 * idempotent step as before, so a retry of the group is as safe as a retry of each part, and a
 * try never redoes what an earlier try finished: a container that exists past `created` is not
 * staged or created again, only followed.
 *
 * The parts are passed in (not imported) so that crash tests can inject their faults into each
 * part (worker/main.ts) and they fire inside the group as they did between the steps.
 */
export function combinedAttemptSteps(parts: Parts, executor: Executor) {
  return {
    /**
     * Stages the inputs and creates the container at once, then starts and follows it (runContainer);
     * on the containers queue, so the concurrency limit counts attempts being readied as well.
     */
    async prepareAndRunContainer(ctx: AttemptContext): Promise<{ exitCode: number | null; note?: string; warnings: string[] }> {
      const activity = Context.current();
      const state = await executor.state(ctx);
      // An earlier try created it and went on: it was removed since.
      if (state.phase === 'absent' && activity.info.heartbeatDetails !== undefined) throw containerGone(ctx.runId);
      if (state.phase !== 'absent' && state.phase !== 'created') return { ...(await parts.runContainer(ctx)), warnings: [] };
      const [, created] = await Promise.all([parts.stageInputs(ctx), parts.createContainer(ctx)]);
      activity.heartbeat(CREATED);
      return { ...(await parts.runContainer(ctx, { created: true })), warnings: created.warnings };
    },

    /** Stores the outputs and the log at once (collectOutputs and collectLog). */
    async collectResults(ctx: AttemptContext, extra: { notes: string[]; message: string | null }): Promise<{ collected: { contents: StoredContent[]; problems: string[] }; log: StoredContent }> {
      const [collected, log] = await Promise.all([parts.collectOutputs(ctx), parts.collectLog(ctx, extra)]);
      return { collected, log };
    },
  };
}
