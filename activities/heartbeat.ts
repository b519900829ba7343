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
