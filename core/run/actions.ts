import { conflict } from '../errors/knit-error.js';
import type { Queryable, Tx } from '../db/pool.js';
import { appendOutbox } from '../outbox/db.js';
import { assertTransition, TERMINAL } from './status.js';
import { lockRun, now } from './store.js';

/** Records a stop request, not yet delivered; the run's workflow acts on it once told (core/run/stop-delivery.ts). */
export async function requestStop(tx: Tx, runId: string, fail: boolean): Promise<void> {
  const run = await lockRun(tx, runId);
  if (TERMINAL.includes(run.status) || run.status === 'deactivated') {
    throw conflict(`run ${runId} is ${run.status}; only a run in progress can be stopped`, { status: run.status });
  }
  if (!fail && !['starting', 'running'].includes(run.status)) {
    throw conflict(`run ${runId} is ${run.status} and has no container yet, so there is nothing to keep: use --fail to cancel it`, { status: run.status });
  }
  const mode = fail ? 'fail' : 'stop';
  // A stop never weakens one already asked (fail stays fail), and asking again changes nothing.
  if (run.stopRequested === 'fail' || run.stopRequested === mode) return;
  await tx.query(`UPDATE run SET stop_requested = $2, stop_delivered = false, updated_at = ${now} WHERE id = $1`, [runId, mode]);
}

/** Runs not invalidated that take any output of `runId` as input. */
async function liveDownstream(q: Queryable, runId: string): Promise<string[]> {
  const r = await q.query<{ id: string }>(
    `SELECT DISTINCT r.id FROM data d JOIN run_input ri ON ri.data_id = d.id JOIN run r ON r.id = ri.run_id
     WHERE d.producer_run_id = $1 AND r.status <> 'invalidated' ORDER BY r.id`,
    [runId],
  );
  return r.rows.map((x) => x.id);
}

/** Deletes the outputs of a run (after checking nothing live depends on them); returns their blob keys. */
async function dropOutputs(tx: Tx, runId: string, action: string): Promise<string[]> {
  const downstream = await liveDownstream(tx, runId);
  if (downstream.length > 0) {
    throw conflict(`cannot ${action} run ${runId}: runs ${downstream.join(', ')} take its outputs as input; remove them first (knit run rm)`, { downstream });
  }
  const outs = await tx.query<{ id: string; blob_key: string | null }>('SELECT id, blob_key FROM data WHERE producer_run_id = $1', [runId]);
  const ids = outs.rows.map((o) => o.id);
  // Removed runs downstream keep no reference to what they consumed.
  await tx.query('DELETE FROM run_input WHERE data_id = ANY($1::uuid[])', [ids]);
  await tx.query('DELETE FROM data_tag WHERE data_id = ANY($1::uuid[])', [ids]);
  await tx.query('DELETE FROM data WHERE id = ANY($1::uuid[])', [ids]);
  return outs.rows.flatMap((o) => (o.blob_key ? [o.blob_key] : []));
}

/** A new attempt of a finished run, with fresh outputs. Returns the blob keys of the old ones. */
export async function retryRun(tx: Tx, runId: string): Promise<string[]> {
  const run = await lockRun(tx, runId);
  if (run.status !== 'done' && run.status !== 'failed') throw conflict(`run ${runId} is ${run.status}; only a done or failed run can be retried`, { status: run.status });
  const plan = await tx.query<{ active: boolean }>('SELECT active FROM plan WHERE id = $1', [run.planId]);
  if (!plan.rows[0]!.active) throw conflict(`run ${runId} belongs to an inactive plan; activate it first (knit plan active yes ${run.planId})`);
  const keys = await dropOutputs(tx, runId, 'retry');
  await tx.query(
    `UPDATE run SET status = 'waiting', attempt = attempt + 1, workflow_started = false, exit_code = NULL, message = NULL,
       stop_requested = NULL, stop_delivered = false, started_at = NULL, finished_at = NULL, updated_at = ${now} WHERE id = $1`,
    [runId],
  );
  await appendOutbox(tx, 'run.retried', runId);
  return keys;
}

/** Removes a run from lineage: invalidated, its outputs deleted. Returns their blob keys. */
export async function invalidateRun(tx: Tx, runId: string): Promise<string[]> {
  const run = await lockRun(tx, runId);
  assertTransition(runId, run.status, 'invalidated');
  const keys = await dropOutputs(tx, runId, 'remove');
  await tx.query(`UPDATE run SET status = 'invalidated', finished_at = COALESCE(finished_at, ${now}), updated_at = ${now} WHERE id = $1`, [runId]);
  return keys;
}
