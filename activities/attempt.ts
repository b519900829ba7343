import { CancelledFailure, Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packDirectory, planPack } from '../core/archive/pack.js';
import { blobKeyOf } from '../core/data/db.js';
import { withTx, type Pool } from '../core/db/pool.js';
import type { Logger } from '../core/log/logger.js';
import { beginAttempt, enterFinish, finishAttempt, refuseBegin, type BeginResult, type Outcome, type StoredContent } from '../core/run/attempt.js';
import type { HookSettings } from '../core/hooks/hooks.js';
import type { RunStatus } from '../core/run/status.js';
import { deleteLiveLog, notifyLiveLog } from '../core/run/live-log-db.js';
import type { AttemptContext } from '../core/run/model.js';
import { LOG_FILE, LOG_INDEX_FILE, storedLogFiles, type StoredLogEntry } from '../core/run/stored-log.js';
import { outputsFeedAPlan } from '../core/run/matching.js';
import { setStatus } from '../core/run/store.js';
import type { BlobStore } from '../core/storage/blob-store.js';
import { withScratch } from '../core/storage/scratch.js';
import { RunRefused, type Executor } from '../executor/executor.js';
import { heartbeating, throttledHeartbeat } from './heartbeat.js';
import { runAfterHooks } from './hooks.js';
import { LiveLogWriter } from './live-log.js';

export interface AttemptDeps {
  pool: Pool;
  store: BlobStore;
  executor: Executor;
  log: Logger;
  /** Wakes the matcher after a run's outputs become eligible; best effort (the backstop covers it). */
  wakeMatcher: () => Promise<void>;
  /** The lifecycle hooks (docs/hooks.md); unset or empty for none. */
  hooks?: HookSettings | undefined;
  config: {
    /** Scratch space of single activities; nothing in it outlives the activity that made it. */
    workdir: string;
    stopGraceSeconds: number;
  };
}

/** The run's container was removed outside knit after knit made it: running it again could run it twice. */
export function containerGone(runId: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`the container of run ${runId} is gone; it was removed outside knit`, 'ContainerGone');
}

/** The executor's refusals are final: the run fails with their reason, and Temporal does not retry. */
async function refusalsFinal<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof RunRefused) throw ApplicationFailure.nonRetryable(err.message, err.reason);
    throw err;
  }
}

/**
 * The activities of one run attempt, whatever runs its container (executor/). Each is
 * idempotent: running it again after a crash, on this worker or another, is safe.
 */
export function attemptActivities(deps: AttemptDeps) {
  const { pool, store, executor, config } = deps;

  async function stopRequested(ctx: AttemptContext): Promise<boolean> {
    const r = await pool.query<{ stop_requested: string | null; attempt: number }>('SELECT stop_requested, attempt FROM run WHERE id = $1', [ctx.runId]);
    return r.rows[0]?.attempt === ctx.attempt && r.rows[0].stop_requested !== null;
  }

  return {
    async beginAttempt(args: { runId: string }): Promise<BeginResult> {
      return withTx(pool, (tx) => beginAttempt(tx, args.runId));
    },

    /** Fails a waiting run that may not begin (its before hook refused); see core/run/attempt.ts. */
    async refuseBegin(args: { runId: string; message: string }): Promise<boolean> {
      const refused = await withTx(pool, (tx) => refuseBegin(tx, args.runId, args.message));
      if (refused) await deps.wakeMatcher().catch((err: unknown) => deps.log.warn({ err, runId: args.runId }, 'could not wake the matcher; its backstop will'));
      return refused;
    },

    /** With hooks: running (or earlier) → completing or aborting, as a step the hooks see. */
    async enterFinish(ctx: AttemptContext, via: 'completing' | 'aborting'): Promise<RunStatus> {
      return withTx(pool, (tx) => enterFinish(tx, ctx.runId, ctx.attempt, via));
    },

    /** Puts each input, digest-verified, where the container will see it, and empty outputs. */
    async stageInputs(ctx: AttemptContext): Promise<void> {
      await refusalsFinal(() => executor.stage(ctx, throttledHeartbeat()));
      await setStatus(pool, ctx.runId, ctx.attempt, 'starting');
    },

    /** Creates (never starts) the container under its deterministic name; heartbeats while it pulls the image. */
    createContainer: heartbeating(async (ctx: AttemptContext): Promise<{ warnings: string[] }> => {
      return refusalsFinal(() => executor.create(ctx, () => {}));
    }),

    /**
     * Starts the container unless it already ran, then follows it to the end: its log goes to
     * the database as it is written (for `knit run log -f`), and heartbeats tell Temporal this worker
     * is alive. A replacement worker re-attaches to the same container.
     */
    async runContainer(ctx: AttemptContext, known?: { created: true }): Promise<{ exitCode: number | null; note?: string }> {
      const activity = Context.current();
      // `known`: the caller has just created it (prepareAndRunContainer), so asking the engine
      // again would only add a round trip before the start.
      const state = known ? { phase: 'created' as const } : await executor.state(ctx);
      if (state.phase === 'absent') throw containerGone(ctx.runId);
      if (state.phase === 'created') {
        if (await stopRequested(ctx)) return { exitCode: null, note: 'stopped before its container started' };
        // Its workflow was cancelled meanwhile and has moved on to finishing the run: starting now would leave a container nobody follows.
        if (activity.cancellationSignal.aborted) throw new CancelledFailure('its workflow was cancelled before its container started');
        await refusalsFinal(() => executor.start(ctx));
        if (await stopRequested(ctx)) await executor.stop(ctx, config.stopGraceSeconds);
      }
      // The change to running is made here, inside the long activity, so its after hooks are
      // called here too (once: only by the call that made the change), beside the log stream.
      const changed = await setStatus(pool, ctx.runId, ctx.attempt, 'running');
      const afterRunning = changed ? runAfterHooks(deps, { runId: ctx.runId, attempt: ctx.attempt, to: 'running' }) : Promise.resolve();

      const resume = activity.info.heartbeatDetails as { seq: number; lastTimestamp: string } | undefined;
      const live = new LiveLogWriter(pool, ctx.runId, ctx.attempt, resume?.seq ?? 0, resume?.lastTimestamp);
      const beat = setInterval(() => {
        activity.heartbeat(live.position());
        void live.flush().catch(() => {});
      }, 1000);
      // Ends the log stream and the wait on a cancel, also one that came before this line, and
      // when this activity returns.
      const done = new AbortController();
      const signal = AbortSignal.any([activity.cancellationSignal, done.signal]);
      try {
        const pump = (async () => {
          const after = live.after();
          for await (const lines of executor.logs(ctx, { follow: true, ...(after ? { after } : {}), signal })) await live.add(lines);
        })().catch((err: unknown) => {
          // Handled here, not after wait(): when a cancellation aborts wait(), nobody would await the
          // pump, and its AbortError would become an unhandled rejection that kills the worker.
          if (!signal.aborted) deps.log.warn({ err, runId: ctx.runId }, 'log streaming ended early');
        });
        const result = await refusalsFinal(async () => {
          try {
            return await executor.wait(ctx, signal);
          } catch (err) {
            // A stop that came while the container was still starting may end it before it ran
            // (a Pod is deleted until its run container runs, which ends its init containers):
            // that is the stop, not a failure.
            if (err instanceof RunRefused && (await stopRequested(ctx))) return { exitCode: null, note: `stopped before its container ran (${err.message})` };
            throw err;
          }
        });
        await pump;
        await live.flush();
        await afterRunning;
        return result;
      } finally {
        clearInterval(beat);
        done.abort();
      }
    },

    /** Heartbeats while the executor waits out the stop grace period. */
    stopContainer: heartbeating(async (ctx: AttemptContext): Promise<void> => {
      await executor.stop(ctx, config.stopGraceSeconds);
    }),

    /**
     * Stores each output as its Data's archive. A tree that breaks the Data rules (a symlink
     * pointing out, a device file) is stored empty, and the reason fails the run.
     */
    async collectOutputs(ctx: AttemptContext): Promise<{ contents: StoredContent[]; problems: string[] }> {
      return executor.collect(ctx, throttledHeartbeat());
    },

    /**
     * Stores the container's complete log (from the executor, not the live copy): its output raw,
     * with the timestamps, streams and knit's own notes beside it (core/run/stored-log.ts);
     * heartbeats while it is read.
     */
    collectLog: heartbeating(async (ctx: AttemptContext, extra: { notes: string[]; message: string | null }): Promise<StoredContent> => {
      const note = (text: string): StoredLogEntry => ({ stream: 'knit', timestamp: new Date().toISOString(), text });
      const entries: StoredLogEntry[] = extra.notes.map(note);
      for await (const batch of executor.logs(ctx, { follow: false })) entries.push(...batch);
      if (extra.message) entries.push(note(extra.message));
      const files = storedLogFiles(entries);
      return withScratch(config.workdir, async (dir) => {
        await writeFile(join(dir, LOG_FILE), files.log);
        await writeFile(join(dir, LOG_INDEX_FILE), files.index);
        const key = blobKeyOf(ctx.log.dataId);
        const info = await store.put(key, packDirectory(dir, await planPack(dir)));
        return { dataId: ctx.log.dataId, size: info.size, digest: info.digest, blobKey: key };
      });
    }),

    /**
     * Finishes the attempt in one transaction, then wakes the matcher when a plan downstream can
     * take an output: a pass for outputs nothing takes would create nothing, and costs a signal,
     * two workflow tasks and an activity (issue 11); its outbox event waits for the next pass.
     */
    async finishAttempt(ctx: AttemptContext, outcome: Outcome): Promise<boolean> {
      const finished = await withTx(pool, async (tx) => {
        const done = await finishAttempt(tx, ctx.runId, ctx.attempt, outcome);
        // Followers of the live log move on to the stored log now, not at their next fallback read.
        await notifyLiveLog(tx, ctx.runId);
        return done;
      });
      // After the commit: a plan applied since is matched in full by its own wake, these outputs included.
      const feeds = await outputsFeedAPlan(pool, ctx.runId).catch(() => true);
      if (feeds) await deps.wakeMatcher().catch((err: unknown) => deps.log.warn({ err, runId: ctx.runId }, 'could not wake the matcher; its backstop will'));
      return finished;
    },

    /** Removes the container, its files and the live log: nothing is left once a run ends. */
    async cleanupAttempt(ctx: AttemptContext): Promise<void> {
      await executor.release(ctx);
      // The run's log Data is stored by now (collectLog comes first), so followers need the live copy no more.
      await deleteLiveLog(pool, ctx.runId, ctx.attempt);
    },
  };
}
