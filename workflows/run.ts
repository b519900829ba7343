import { ActivityFailure, ApplicationFailure, CancellationScope, CancelledFailure, condition, isCancellation, patched, proxyActivities, proxyLocalActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { KnitActivities } from '../activities/index.js';
import type { RunStatus } from '../core/run/status.js';
import { RUN_STATUS, stopSignal, type RunArgs, type RunResult } from './definitions.js';

const retry = { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20 };

/**
 * Marks histories whose attempts ran as two grouped activities (activities/combined-steps.ts)
 * instead of one per step: histories recorded before it replay the steps one by one.
 */
const GROUPED_STEPS = 'grouped-attempt-steps';

export interface RunOptions {
  /** The task queue of container waits, served with the worker's concurrency limit. */
  containerQueue: string;
  /** How long a step may go without a heartbeat before it moves to another worker. */
  heartbeatTimeout: string;
  /** The longest a short step may take; a worker lost in one is noticed after this. */
  stepTimeout: string;
  /**
   * Set by the worker when lifecycle hooks are configured (docs/hooks.md); absent, the workflow
   * makes exactly the calls it made before hooks existed (no extra round trips, and histories
   * recorded then still replay).
   */
  hooks?: RunHookOptions;
}

export interface RunHookOptions {
  before: boolean;
  after: boolean;
  /** KNIT_HOOKS_TIMEOUT, in milliseconds: one call's limit. */
  callTimeoutMs: number;
  /** How many hooks of each kind: one round's activity may take that many calls' time. */
  count: number;
  /** KNIT_HOOKS_BEFORE_ATTEMPTS: tries of one change's before hooks before they count as refusing. */
  beforeAttempts: number;
}

/**
 * One Run's attempt: stage inputs, run its container, store outputs and log, finish. Each step
 * is an idempotent activity, so a crashed worker is replaced without running anything twice.
 * The container wait goes to its own task queue, whose worker limits how many run at once.
 */
export async function run(args: RunArgs, options: RunOptions): Promise<RunResult> {
  // Every step heartbeats, so one held by a lost worker moves to another after heartbeatTimeout.
  // Steps (creating the container may pull its image, stopping it waits out the grace period) are
  // also bounded by stepTimeout; moving Data and waiting for the container may take far longer.
  // The database steps that open and close an attempt run as local activities: milliseconds of
  // work, without a round trip to the server, in the workflow's task (lost with it, and retried
  // when that task times out).
  const steps = proxyActivities<KnitActivities>({ startToCloseTimeout: options.stepTimeout, heartbeatTimeout: options.heartbeatTimeout, retry });
  const local = proxyLocalActivities<KnitActivities>({ startToCloseTimeout: options.stepTimeout, retry });
  const transfers = proxyActivities<KnitActivities>({ startToCloseTimeout: '1 day', heartbeatTimeout: options.heartbeatTimeout, retry });
  const containers = proxyActivities<KnitActivities>({
    taskQueue: options.containerQueue,
    startToCloseTimeout: '30 days',
    heartbeatTimeout: options.heartbeatTimeout,
    retry,
  });

  let stopMode: 'stop' | 'fail' | undefined;
  setHandler(stopSignal, (mode) => {
    if (stopMode !== 'fail') stopMode = mode;
  });
  // Read through a function: the signal handler changes it behind the type checker's back.
  const requested = (): 'stop' | 'fail' | undefined => stopMode;
  const status = (s: string) => upsertSearchAttributes([{ key: RUN_STATUS, value: s }]);

  const hooks = options.hooks;
  // A round of hooks may take each one's timeout, plus the database reads around it.
  const roundTimeout = hooks ? `${(hooks.callTimeoutMs * hooks.count + 30_000) / 1000} seconds` : '1 minute';
  const beforeHooks = hooks?.before
    ? proxyActivities<KnitActivities>({
        startToCloseTimeout: roundTimeout,
        retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: hooks.beforeAttempts, nonRetryableErrorTypes: ['HookEnvInvalid'] },
      })
    : undefined;
  // At most once: no retry.
  const afterHooks = hooks?.after ? proxyActivities<KnitActivities>({ startToCloseTimeout: roundTimeout, retry: { maximumAttempts: 1 } }) : undefined;

  /**
   * The before hooks of the change to `to`, retried (with backoff) within the budget. Resolves to
   * their env, or to why they stopped the change: the last refusal once the budget is spent, or
   * a stop (`knit run stop`) that came meanwhile, with `stoppable`. The caller decides what that
   * means: toward success it fails the run; toward failure it is noted and the change goes ahead.
   */
  async function before(to: RunStatus, attempt: number | undefined, stoppable: boolean): Promise<{ env: Record<string, string> } | { refused: string }> {
    if (!beforeHooks) return { env: {} };
    const scope = new CancellationScope();
    const call = scope.run(() => beforeHooks.beforeHooks({ runId: args.runId, to, ...(attempt !== undefined ? { attempt } : {}) }));
    const answered = call.then(
      (r) => ({ env: r.env }),
      (err: unknown) => ({ refused: describe(err) }),
    );
    // A stop that came earlier is the attempt's to handle as it always did (e.g. stopped before its container started).
    if (!stoppable || requested() !== undefined) return answered;
    const stopped = condition(() => requested() !== undefined).then(() => ({ refused: `stopped by user while the before hooks of → ${to} were being retried` }));
    const first = await Promise.race([answered, stopped]);
    if ('refused' in first && requested() !== undefined) scope.cancel();
    return first;
  }
  async function after(to: RunStatus, attempt: number | undefined): Promise<void> {
    if (afterHooks) await afterHooks.afterHooks({ runId: args.runId, to, ...(attempt !== undefined ? { attempt } : {}) });
  }

  if (!args.abandoned) {
    const allowed = await before('ready', undefined, true);
    if ('refused' in allowed) {
      // The attempt never began: the run fails from waiting, and `knit run retry` is the way on.
      await local.refuseBegin({ runId: args.runId, message: allowed.refused });
      return { runId: args.runId, status: 'failed', exitCode: null, message: allowed.refused };
    }
  }
  const begun = await local.beginAttempt({ runId: args.runId });
  if (!begun.begun) return { runId: args.runId, skipped: begun.reason };
  let ctx = begun.context;
  if (begun.stopRequested && stopMode !== 'fail') stopMode = begun.stopRequested;
  // Without hooks nothing happens between readying the container and running it, or between
  // storing outputs and log: each pair is one activity (activities/combined-steps.ts), and the
  // Temporal UI's KnitRunStatus skips the states that last no longer than a workflow task
  // (ready, completing): each is a visibility write. With hooks, every step is its own.
  const grouped = !hooks && patched(GROUPED_STEPS);
  await after('ready', ctx.attempt);
  if (!grouped) status('ready');

  /** Stages inputs, runs the container, and says how it went; never throws. */
  async function execute(): Promise<Execution> {
    const notes: string[] = [];
    let exitCode: number | null = null;
    try {
      if (requested() === 'fail') throw ApplicationFailure.nonRetryable('stopped by user before it started', 'Stopped');
      if (!grouped) {
        // The env of the ready → starting hooks goes into the container, so they answer before it is created.
        const starting = await before('starting', ctx.attempt, true);
        if ('refused' in starting) throw ApplicationFailure.nonRetryable(starting.refused, 'HookRefused');
        if (Object.keys(starting.env).length > 0) ctx = { ...ctx, env: starting.env };
        // Creating the container does not need the inputs in place, only starting it does.
        const [, created] = await Promise.all([transfers.stageInputs(ctx), steps.createContainer(ctx)]);
        notes.push(...created.warnings);
        await after('starting', ctx.attempt);
        const running = await before('running', ctx.attempt, true);
        if ('refused' in running) throw ApplicationFailure.nonRetryable(running.refused, 'HookRefused');
      }
      status('running');
      let exited = false;
      const stopper = (async () => {
        await condition(() => requested() !== undefined || exited);
        if (!exited) await steps.stopContainer(ctx);
      })();
      // A cancel of this workflow also ends the wait above; runContainer's failure reports it.
      stopper.catch(() => {});
      try {
        const result = grouped ? await containers.prepareAndRunContainer(ctx) : { ...(await containers.runContainer(ctx)), warnings: [] };
        notes.push(...result.warnings);
        exitCode = result.exitCode;
        if (result.note) notes.push(result.note);
      } finally {
        exited = true;
      }
      await stopper;
      const stopped = requested() !== undefined;
      if (requested() === 'fail') return { notes, exitCode, stopped, failure: 'stopped by user' };
      if (!stopped && exitCode !== 0) return { notes, exitCode, stopped, failure: `the container exited with code ${exitCode}` };
      // A stop that ends the run done records exit 0, as Knitfab does: the code a stopped container
      // dies with (143 on SIGTERM, 137 once the grace period is spent) is the stop's, not the work's.
      // The message keeps it.
      if (stopped && exitCode !== null && exitCode !== 0) return { notes, exitCode: 0, stopped, stopDetail: stopDetail(exitCode) };
      return { notes, exitCode, stopped };
    } catch (err) {
      // Cancelling the workflow (in the Temporal UI or CLI) fails the run, like `knit run stop
      // --fail`; the container is stopped while the run is finished.
      if (isCancellation(err)) return { notes, exitCode, stopped: false, cancelled: true, failure: 'its workflow was cancelled in Temporal' };
      return { notes, exitCode, stopped: requested() !== undefined, failure: describe(err) };
    }
  }

  /** Stores outputs and log, and records the outcome. */
  async function finish(e: Execution): Promise<RunResult> {
    // Cancelled or abandoned, nobody watched the container to its end: it may still run.
    if (e.cancelled || args.abandoned) await steps.stopContainer(ctx);
    let failure = e.failure;
    const messageFor = (f: string | undefined) => f ?? (e.stopped ? ['stopped by user', e.stopDetail].filter((x) => x !== undefined).join('; ') : null);
    const notes = [...e.notes];
    // Toward success, a before hook that still refuses when the budget is spent fails the run;
    // toward failure it cannot hold the change: the refusal is noted in the run's log.
    const refusedTowardFailure = (refused: string) => notes.push(`${refused} (the run fails anyway)`);
    if (hooks) {
      const via = failure === undefined ? 'completing' : 'aborting';
      const allowed = await before(via, ctx.attempt, false);
      if ('refused' in allowed) {
        if (via === 'completing') failure = allowed.refused;
        else refusedTowardFailure(allowed.refused);
      }
      const entered = await local.enterFinish(ctx, failure === undefined ? 'completing' : 'aborting');
      await after(entered, ctx.attempt);
    }
    if (!grouped) status(failure === undefined ? 'completing' : 'aborting');
    const extra = { notes, message: messageFor(failure) };
    let { collected, log } = grouped
      ? await transfers.collectResults(ctx, extra)
      : await Promise.all([transfers.collectOutputs(ctx), transfers.collectLog(ctx, extra)]).then(([collected, log]) => ({ collected, log }));
    let relog = false;
    if (collected.problems.length > 0) {
      // An output that could not be stored fails the run; the log must say so too.
      failure = [failure, ...collected.problems].filter((x) => x !== undefined).join('; ');
      relog = true;
    }
    if (hooks) {
      const towardDone = failure === undefined;
      const allowed = await before(towardDone ? 'done' : 'failed', ctx.attempt, false);
      if ('refused' in allowed) {
        if (towardDone) failure = allowed.refused;
        else refusedTowardFailure(allowed.refused);
        relog = true;
      }
    }
    if (relog) log = await transfers.collectLog(ctx, { notes, message: messageFor(failure) });
    const outcome = failure === undefined ? 'done' : 'failed';
    const message = messageFor(failure);
    await local.finishAttempt(ctx, { status: outcome, exitCode: e.exitCode, message, contents: [...collected.contents, log] });
    await after(outcome, ctx.attempt);
    status(outcome);
    await local.cleanupAttempt(ctx);
    return { runId: args.runId, status: outcome, exitCode: e.exitCode, message };
  }

  const execution: Execution = args.abandoned
    ? { notes: [], exitCode: null, stopped: false, failure: `its workflow was ${args.abandoned} in Temporal` }
    : await execute();
  // Finishing is shielded from a cancel: a run is never left half-recorded or its container behind.
  const result = await CancellationScope.nonCancellable(() => finish(execution));
  if (execution.cancelled) throw new CancelledFailure(result.message ?? 'cancelled');
  return result;
}

interface Execution {
  notes: string[];
  exitCode: number | null;
  /** A user asked to stop it (`knit run stop`). */
  stopped: boolean;
  /** How the container ended on a stop, when it did not exit 0. */
  stopDetail?: string;
  /** Its workflow was cancelled. */
  cancelled?: boolean;
  /** Why the run fails; undefined if it is done. */
  failure?: string;
}

function stopDetail(exitCode: number): string {
  if (exitCode === 137) return 'its container did not exit on SIGTERM within the stop grace period (KNIT_STOP_GRACE_SECONDS) and was killed (exit 137)';
  if (exitCode === 143) return 'its container ended on SIGTERM (exit 143)';
  return `its container ended with code ${exitCode}`;
}

function describe(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}
