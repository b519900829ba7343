import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DockerEngine } from '../../executor/docker/engine.js';
import { LABEL_INSTANCE, LABEL_RUN } from '../../executor/docker/names.js';
import type { Queryable } from '../../core/db/pool.js';
import { IN_FLIGHT } from '../../core/run/status.js';

/** Under KNIT_HOME: the run containers `knit up` stopped on its way down, to start again on its way up. */
const STOPPED_FILE = 'stopped-run-containers.json';

function readStopped(home: string): string[] {
  try {
    const ids: unknown = JSON.parse(readFileSync(join(home, STOPPED_FILE), 'utf8'));
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * Stops every run container of this knit instance that is still running, once the worker is
 * gone: a stopped stack leaves nothing running on the machine with no one watching it. Each one
 * is recorded before it is stopped, so the next `knit up` starts it again and its run carries on
 * in the same attempt (the container starts its command afresh, like a restarted Pod).
 * Must run after the worker has stopped: a worker that saw the container stop would finish the
 * run as failed.
 */
export async function stopRunContainers(home: string, db: Queryable, docker: DockerEngine, instance: string, graceSeconds: number): Promise<number> {
  const live = (await docker.list({ [LABEL_INSTANCE]: instance })).filter((c) => c.status === 'running' || c.status === 'restarting' || c.status === 'paused');
  if (live.length === 0) return 0;
  // Only runs of this database: another knit on this Docker engine may use the same instance name.
  const ids = live.map((c) => c.labels[LABEL_RUN] ?? '').filter((id) => /^[0-9a-f-]{36}$/.test(id));
  const ours = new Set((await db.query<{ id: string }>('SELECT id FROM run WHERE id = ANY($1::uuid[]) AND status = ANY($2::text[])', [ids, IN_FLIGHT])).rows.map((r) => r.id));
  const running = live.filter((c) => ours.has(c.labels[LABEL_RUN] ?? ''));
  if (running.length === 0) return 0;
  writeFileSync(join(home, STOPPED_FILE), JSON.stringify([...new Set([...readStopped(home), ...running.map((c) => c.id)])]));
  await Promise.all(running.map((c) => docker.stop(c.id, graceSeconds)));
  return running.length;
}

/**
 * Starts again the run containers the last `knit up` stopped, before the worker starts: the
 * worker then re-attaches to them as to any container of a run in flight. A container that is
 * gone, or that was started already, is skipped; the worker's sweep removes those whose run is over.
 */
export async function restartRunContainers(home: string, docker: DockerEngine): Promise<number> {
  let started = 0;
  for (const id of readStopped(home)) {
    const state = await docker.inspect(id);
    if (state?.status !== 'exited') continue;
    await docker.start(id);
    started++;
  }
  rmSync(join(home, STOPPED_FILE), { force: true });
  return started;
}
