import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pool } from '../core/db/pool.js';
import type { BlobStore } from '../core/storage/blob-store.js';
import { IN_FLIGHT, type RunStatus } from '../core/run/status.js';
import type { DockerEngine } from '../activities/docker/engine.js';
import { LABEL_ATTEMPT, LABEL_INSTANCE, LABEL_RUN } from '../activities/workspace.js';

export interface SweepResult {
  containers: number;
  workspaces: number;
  liveLogs: number;
}

/**
 * Removes what crashed attempts of this knit instance left behind: containers, workspaces and
 * live logs of attempts that are over. Anything belonging to an attempt still in flight is left
 * for its workflow, which re-attaches to it.
 */
export async function sweepLeftovers(deps: { pool: Pool; docker: DockerEngine; store: BlobStore; instance: string; workdir: string }): Promise<SweepResult> {
  const over = attemptIsOver(deps.pool);

  let containers = 0;
  for (const c of await deps.docker.list({ [LABEL_INSTANCE]: deps.instance })) {
    if (await over(c.labels[LABEL_RUN] ?? '', Number(c.labels[LABEL_ATTEMPT]))) {
      await deps.docker.remove(c.id);
      containers++;
    }
  }

  let workspaces = 0;
  for (const name of await readdir(deps.workdir).catch(() => [] as string[])) {
    const m = /^([0-9a-f-]{36})-a(\d+)$/.exec(name);
    if (m && (await over(m[1]!, Number(m[2])))) {
      await rm(join(deps.workdir, name), { recursive: true, force: true });
      workspaces++;
    }
  }

  const liveLogs = await sweepLiveLogs(deps);
  return { containers, workspaces, liveLogs };
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

const LIVE = /^runs\/([0-9a-f-]{36})\/a(\d+)\/live\//;

/**
 * Live logs of attempts that are over, and the folders they leave empty. Safe while running (the
 * worker sweeps periodically): an attempt still in flight, whose log is being written, is never
 * touched, and a folder that gains a file meanwhile is kept.
 */
export async function sweepLiveLogs(deps: { pool: Pool; store: BlobStore }): Promise<number> {
  const over = attemptIsOver(deps.pool);
  let liveLogs = 0;
  for await (const e of deps.store.list('runs/')) {
    const m = LIVE.exec(e.key);
    if (m && (await over(m[1]!, Number(m[2])))) {
      await deps.store.delete(e.key);
      liveLogs++;
    }
  }
  for await (const folder of deps.store.emptyFolders('runs/')) {
    const m = LIVE.exec(folder) ?? /^runs\/([0-9a-f-]{36})\/a(\d+)\/$/.exec(folder);
    if (m && (await over(m[1]!, Number(m[2])))) await deps.store.removeEmptyFolder(folder, 'runs/');
  }
  return liveLogs;
}
