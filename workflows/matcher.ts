import { condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { KnitActivities } from '../activities/index.js';
import { wakeSignal, type MatcherArgs } from './definitions.js';

/**
 * The matcher's one activity. It heartbeats while it works, so a worker lost in it is noticed
 * after `heartbeatTimeout` and the pass is retried on another; the long timeout only bounds a
 * pass that hangs on a live worker.
 */
const reconcileWith = (heartbeatTimeout: string) =>
  proxyActivities<KnitActivities>({
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout,
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  }).reconcile;

/** How long the matcher sleeps without a signal before it looks at the outbox anyway, until the worker says otherwise. */
const BACKSTOP = '30 seconds';
/** The heartbeat timeout until a worker's configuration says otherwise (KNIT_HEARTBEAT_TIMEOUT's default). */
const HEARTBEAT_TIMEOUT = '30 seconds';
/** Iterations before continuing as new, well before the history would grow large. */
const MAX_ITERATIONS = 200;

/**
 * The long-running matcher: on each wake-up (a signal, or the backstop timer in case a signal
 * was lost) it reconciles the outbox into runs, until there is nothing left, then sleeps.
 * Its only state is a cursor; all the work happens in the `reconcile` activity.
 */
export async function matcher(args: MatcherArgs): Promise<void> {
  let cursor = args.cursor;
  let woken = true;
  setHandler(wakeSignal, () => {
    woken = true;
  });
  let backstop = BACKSTOP;
  let heartbeatTimeout = args.heartbeatTimeout ?? HEARTBEAT_TIMEOUT;
  for (let i = 0; i < MAX_ITERATIONS && !workflowInfo().continueAsNewSuggested; i++) {
    // A pass the backstop set off also sweeps for runs whose workflow closed unfinished.
    const sweep = !woken && !(await condition(() => woken, backstop));
    woken = false;
    const r = await reconcileWith(heartbeatTimeout)({ cursor, sweep });
    cursor = r.cursor;
    // From the worker's configuration; older histories' results have none.
    if (r.backstop) backstop = r.backstop;
    if (r.heartbeatTimeout) heartbeatTimeout = r.heartbeatTimeout;
    if (r.more) woken = true;
  }
  await continueAsNew<typeof matcher>({ cursor, heartbeatTimeout });
}
