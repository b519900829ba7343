import { ActivityFailure, ApplicationFailure, CancellationScope, CancelledFailure, condition, isCancellation, proxyActivities, proxyLocalActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { KnitActivities } from '../activities/index.js';
import { RUN_STATUS, stopSignal, type RunArgs, type RunResult } from './definitions.js';

const retry = { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20 };

export interface RunOptions {
  /** The task queue of container waits, served with the worker's concurrency limit. */
  containerQueue: string;
  /** How long a step may go without a heartbeat before it moves to another worker. */
  heartbeatTimeout: string;
  /** The longest a short step may take; a worker lost in one is noticed after this. */
  stepTimeout: string;
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

  const begun = await local.beginAttempt({ runId: args.runId });
  if (!begun.begun) return { runId: args.runId, skipped: begun.reason };
  const ctx = begun.context;
  if (begun.stopRequested && stopMode !== 'fail') stopMode = begun.stopRequested;
  status('ready');

  /** Stages inputs, runs the container, and says how it went; never throws. */
  async function execute(): Promise<Execution> {
    const notes: string[] = [];
    let exitCode: number | null = null;
    try {
      if (requested() === 'fail') throw ApplicationFailure.nonRetryable('stopped by user before it started', 'Stopped');
      // Creating the container does not need the inputs in place, only starting it does.
      const [, created] = await Promise.all([transfers.stageInputs(ctx), steps.createContainer(ctx)]);
      notes.push(...created.warnings);
      status('running');
      let exited = false;
      const stopper = (async () => {
        await condition(() => requested() !== undefined || exited);
        if (!exited) await steps.stopContainer(ctx);
      })();
      // A cancel of this workflow also ends the wait above; runContainer's failure reports it.
      stopper.catch(() => {});
      try {
        const result = await containers.runContainer(ctx);
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
    status(failure === undefined ? 'completing' : 'aborting');
    let [collected, log] = await Promise.all([transfers.collectOutputs(ctx), transfers.collectLog(ctx, { notes: e.notes, message: messageFor(failure) })]);
    if (collected.problems.length > 0) {
      // An output that could not be stored fails the run; the log must say so too.
      failure = [failure, ...collected.problems].filter((x) => x !== undefined).join('; ');
      log = await transfers.collectLog(ctx, { notes: e.notes, message: messageFor(failure) });
    }
    const outcome = failure === undefined ? 'done' : 'failed';
    const message = messageFor(failure);
    await local.finishAttempt(ctx, { status: outcome, exitCode: e.exitCode, message, contents: [...collected.contents, log] });
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
