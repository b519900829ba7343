import { withTx, type Queryable } from '../../core/db/pool.js';
import { notFound } from '../../core/errors/knit-error.js';
import { invalidateRun, requestStop, retryRun } from '../../core/run/actions.js';
import { markStopDelivered } from '../../core/run/stop-delivery.js';
import { findRunsPage, getRun } from '../../core/run/store.js';
import type { RunDetail, RunQuery } from '../../core/run/model.js';
import type { Page, PageRequest } from '../../core/page/page.js';
import type { ApiDeps } from '../server.js';

/** What listing, stopping, retrying and removing runs mean, whichever API is asked. */

export function listRuns(queries: Queryable, query: RunQuery, page: PageRequest): Promise<Page<RunDetail>> {
  return findRunsPage(queries, query, page);
}

export async function mustGetRun(deps: ApiDeps, id: string): Promise<RunDetail> {
  const run = await getRun(deps.pool, id);
  if (!run) throw notFound('run', id);
  return run;
}

/**
 * The stop is recorded first, so it is never lost: when Temporal cannot be told now, `delivered`
 * is false (the matcher delivers it once Temporal is back).
 */
export async function stopRun(deps: ApiDeps, id: string, fail: boolean): Promise<{ run: RunDetail; delivered: boolean }> {
  const mode = fail ? 'fail' : 'stop';
  await withTx(deps.pool, (tx) => requestStop(tx, id, fail));
  const delivered = await deps.orchestrator.stopRun(id, mode);
  if (delivered) await markStopDelivered(deps.pool, id, mode);
  return { run: await mustGetRun(deps, id), delivered };
}

export async function retry(deps: ApiDeps, id: string): Promise<RunDetail> {
  const stale = await withTx(deps.pool, (tx) => retryRun(tx, id));
  for (const key of stale) await deps.store.delete(key);
  deps.onChange('run.retried', id);
  return mustGetRun(deps, id);
}

/** Invalidates the run (knit keeps its row for lineage) and deletes its outputs' objects. */
export async function removeRun(deps: ApiDeps, id: string): Promise<RunDetail> {
  const stale = await withTx(deps.pool, (tx) => invalidateRun(tx, id));
  for (const key of stale) await deps.store.delete(key);
  return mustGetRun(deps, id);
}
