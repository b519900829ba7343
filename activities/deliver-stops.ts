import type { Client } from '@temporalio/client';
import type { Pool } from '../core/db/pool.js';
import type { Logger } from '../core/log/logger.js';
import { markStopDelivered, undeliveredStops } from '../core/run/stop-delivery.js';
import { signalStop } from '../core/temporal/signal-stop.js';

/** Stops delivered per pass; a long backlog (after a Temporal outage) is worked off pass by pass. */
const BATCH = 100;

/**
 * Tells each run in flight of a stop that was recorded but never reached its workflow (the API
 * could not reach Temporal when it was asked). Telling a workflow twice is harmless, so a crash
 * between the signal and the mark only costs a second signal. Returns how many were delivered.
 */
export async function deliverStops(deps: { pool: Pool; client: Client; log: Logger }): Promise<number> {
  let delivered = 0;
  for (const stop of await undeliveredStops(deps.pool, BATCH)) {
    try {
      await signalStop(deps.client, stop.runId, stop.mode);
    } catch (err) {
      // Temporal is out of reach (a closed workflow counts as reached): the others would wait
      // out the same deadline one by one, so the next pass tries them all again instead.
      deps.log.warn({ err: (err as Error).message, runId: stop.runId }, 'could not deliver a recorded stop yet');
      break;
    }
    await markStopDelivered(deps.pool, stop.runId, stop.mode);
    delivered++;
  }
  if (delivered > 0) deps.log.info({ delivered }, 'delivered recorded stops');
  return delivered;
}
