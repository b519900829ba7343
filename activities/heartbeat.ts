import { Context } from '@temporalio/activity';

/** Heartbeats at most every `everyMs`, so hot loops can call it freely. */
export function throttledHeartbeat(everyMs = 2000): (details?: unknown) => void {
  let last = 0;
  return (details?: unknown) => {
    const now = Date.now();
    if (now - last < everyMs) return;
    last = now;
    Context.current().heartbeat(details);
  };
}

/** How often heartbeatWhile beats at most: often enough for a heartbeat timeout of a few seconds. */
const BEAT_EVERY_MS = 1000;

/**
 * Runs `work`, heartbeating on a timer until it settles: for an activity whose long part is one
 * await that reports no progress (an image pull, a lock wait, a long statement). The heartbeat
 * says this worker is alive, so a lost worker's activity moves to another after the heartbeat
 * timeout, while a slow one on a live worker is left to finish. The SDK throttles what it sends
 * to the server. A local activity cannot heartbeat; there it only runs `work`.
 */
export async function heartbeatWhile<T>(work: () => Promise<T>): Promise<T> {
  const activity = Context.current();
  if (activity.info.isLocal) return work();
  activity.heartbeat();
  // A shorter heartbeat timeout needs beats more often than once a second.
  const every = Math.max(10, Math.min(BEAT_EVERY_MS, (activity.info.heartbeatTimeoutMs || BEAT_EVERY_MS * 4) / 4));
  const timer = setInterval(() => activity.heartbeat(), every);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** `fn` as an activity that heartbeats on a timer while it runs (see heartbeatWhile). */
export function heartbeating<A extends unknown[], T>(fn: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  return (...args: A) => heartbeatWhile(() => fn(...args));
}
