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
  // A run this database does not know belongs to another knit sharing the engine: not ours.
  const over = async (runId: string, attempt: number): Promise<boolean> => {
    if (!/^[0-9a-f-]{36}$/.test(runId)) return false;
    const r = await deps.pool.query<{ status: RunStatus; attempt: number }>('SELECT status, attempt FROM run WHERE id = $1', [runId]);
    const run = r.rows[0];
    return run !== undefined && (run.attempt !== attempt || !IN_FLIGHT.includes(run.status));
  };

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

  let liveLogs = 0;
  for await (const e of deps.store.list('runs/')) {
    const m = /^runs\/([0-9a-f-]{36})\/a(\d+)\/live\//.exec(e.key);
    if (m && (await over(m[1]!, Number(m[2])))) {
      await deps.store.delete(e.key);
      liveLogs++;
    }
  }
  return { containers, workspaces, liveLogs };
}
