import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pool } from '../core/db/pool.js';
import type { BlobStore } from '../core/storage/blob-store.js';
import { SCRATCH_PREFIX } from '../core/storage/scratch.js';
import { sweepLiveLogChunks } from '../core/run/live-log-db.js';
import { IN_FLIGHT, type RunStatus } from '../core/run/status.js';
import type { Executor } from '../executor/executor.js';

export interface SweepResult {
  /** Attempts whose containers, volumes or Pods were removed. */
  attempts: number;
  scratch: number;
  /** Live-log chunks of attempts that are over. */
  liveLogs: number;
}

/**
 * Removes what crashed attempts of this knit instance left behind: what the executor holds for
 * attempts that are over (containers, volumes, Pods), scratch folders of steps cut short on this
 * worker, and live-log chunks. Anything of an attempt still in flight is left for its workflow, which
 * re-attaches to it.
 */
export async function sweepLeftovers(deps: { pool: Pool; executor: Executor; store: BlobStore; workdir: string; scratchGraceMs: number }): Promise<SweepResult> {
  const over = attemptIsOver(deps.pool);

  let attempts = 0;
  for await (const left of deps.executor.leftovers()) {
    if (await over(left.runId, left.attempt)) {
      await left.remove();
      attempts++;
    }
  }

  // Another worker process on this host may share the folder and be using its scratch now:
  // only folders older than the grace period are a crashed step's.
  let scratch = 0;
  const cutoff = Date.now() - deps.scratchGraceMs;
  for (const name of await readdir(deps.workdir).catch(() => [] as string[])) {
    if (!name.startsWith(SCRATCH_PREFIX)) continue;
    const info = await stat(join(deps.workdir, name)).catch(() => undefined);
    if (info && info.mtimeMs < cutoff) {
      await rm(join(deps.workdir, name), { recursive: true, force: true });
      scratch++;
    }
  }

  const liveLogs = await sweepLiveLogs(deps);
  return { attempts, scratch, liveLogs };
}

// A run this database does not know belongs to another knit sharing the engine: not ours.
function attemptIsOver(pool: Pool): (runId: string, attempt: number) => Promise<boolean> {
  return async (runId, attempt) => {
    if (!/^[0-9a-f-]{36}$/.test(runId)) return false;
    const r = await pool.query<{ status: RunStatus; attempt: number }>('SELECT status, attempt FROM run WHERE id = $1', [runId]);
    const run = r.rows[0];
    return run !== undefined && (run.attempt !== attempt || !IN_FLIGHT.includes(run.status));
  };
}

/**
 * Live logs (database chunks) of attempts that are over, which a crash between finishing and
 * cleaning up leaves behind. Safe while running (the worker sweeps periodically): an attempt
 * still in flight, whose log is being written, is never touched. Returns how many chunks went.
 */
export async function sweepLiveLogs(deps: { pool: Pool }): Promise<number> {
  return sweepLiveLogChunks(deps.pool);
}
