import type { Queryable } from '../db/pool.js';
import { IN_FLIGHT } from './status.js';

/**
 * A stop is recorded in the run row (`stop_requested`) before anyone tries to tell the run's
 * workflow, so that no stop is lost while Temporal is unreachable; `stop_delivered` says the
 * workflow has been told. The matcher's reconcile delivers what is left.
 */
export interface UndeliveredStop {
  runId: string;
  mode: 'stop' | 'fail';
}

/** Runs in flight with a stop their workflow has not been told of, oldest request first. */
export async function undeliveredStops(q: Queryable, limit: number): Promise<UndeliveredStop[]> {
  const r = await q.query<{ id: string; stop_requested: 'stop' | 'fail' }>(
    `SELECT id, stop_requested FROM run
     WHERE stop_requested IS NOT NULL AND NOT stop_delivered AND status = ANY($1::text[])
     ORDER BY updated_at LIMIT $2`,
    [IN_FLIGHT, limit],
  );
  return r.rows.map((row) => ({ runId: row.id, mode: row.stop_requested }));
}

/** Marks `mode` as told; a newer request (a stop raised to --fail meanwhile) stays to deliver. */
export async function markStopDelivered(q: Queryable, runId: string, mode: 'stop' | 'fail'): Promise<void> {
  await q.query('UPDATE run SET stop_delivered = true WHERE id = $1 AND stop_requested = $2', [runId, mode]);
}
