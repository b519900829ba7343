import type { Queryable } from '../db/pool.js';

/**
 * Outputs the agent of a Kubernetes Pod uploaded, one row per (run, attempt, output index). The
 * API writes them as uploads arrive; the Pod executor's collect() reads them.
 */
export interface AttemptUpload {
  idx: number;
  dataId: string;
  size: number;
  digest: string;
  blobKey: string;
  /** Why the agent uploaded an empty archive instead of the output; null when it is the output. */
  problem: string | null;
}

/** Records an upload; a repeated upload of the same output (a retried sidecar) replaces it. */
export async function recordUpload(q: Queryable, u: AttemptUpload & { runId: string; attempt: number }): Promise<void> {
  await q.query(
    `INSERT INTO attempt_upload (run_id, attempt, idx, data_id, size, digest, blob_key, problem)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (run_id, attempt, idx) DO UPDATE SET
       data_id = EXCLUDED.data_id, size = EXCLUDED.size, digest = EXCLUDED.digest, blob_key = EXCLUDED.blob_key,
       problem = EXCLUDED.problem, uploaded_at = date_trunc('milliseconds', clock_timestamp())`,
    [u.runId, u.attempt, u.idx, u.dataId, u.size, u.digest, u.blobKey, u.problem],
  );
}

/** The uploads of one attempt, by output index. */
export async function uploadsOf(q: Queryable, runId: string, attempt: number): Promise<AttemptUpload[]> {
  const r = await q.query<{ idx: number; data_id: string; size: number; digest: string; blob_key: string; problem: string | null }>(
    'SELECT idx, data_id, size, digest, blob_key, problem FROM attempt_upload WHERE run_id = $1 AND attempt = $2 ORDER BY idx',
    [runId, attempt],
  );
  return r.rows.map((x) => ({ idx: x.idx, dataId: x.data_id, size: Number(x.size), digest: x.digest, blobKey: x.blob_key, problem: x.problem }));
}
