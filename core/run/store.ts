import { notFound } from '../errors/knit-error.js';
import { SqlParams, whereClause } from '../db/params.js';
import { selectPage, type Page, type PageRequest } from '../page/page.js';
import type { Queryable, Tx } from '../db/pool.js';
import type { RunDetail, RunQuery } from './model.js';
import { RunStatus, sourcesOf, TERMINAL } from './status.js';
import type { IdPrefix } from '../validation/id-prefix.js';

/** Timestamps in run rows have millisecond precision, like everything knit shows. */
export const now = `date_trunc('milliseconds', clock_timestamp())`;

interface RunRow {
  id: string;
  status: RunStatus;
  attempt: number;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  exit_code: number | null;
  message: string | null;
  stop_requested: 'stop' | 'fail' | null;
  plan_id: string;
  image: string;
  entrypoint: string[] | null;
  args: string[] | null;
  inputs: Array<{ path: string; dataId: string }>;
  outputs: Array<{ path: string; dataId: string | null }>;
  log_data_id: string | null;
}

const SELECT = `
SELECT r.id, r.status, r.attempt, r.created_at, r.updated_at, r.started_at, r.finished_at, r.exit_code, r.message,
       r.stop_requested, p.id AS plan_id, p.image, p.entrypoint, p.args,
  COALESCE((SELECT json_agg(json_build_object('path', pi.path, 'dataId', ri.data_id) ORDER BY ri.idx)
    FROM run_input ri JOIN plan_input pi ON pi.plan_id = r.plan_id AND pi.idx = ri.idx WHERE ri.run_id = r.id), '[]'::json) AS inputs,
  COALESCE((SELECT json_agg(json_build_object('path', po.path, 'dataId',
      (SELECT d.id FROM data d WHERE d.producer_run_id = r.id AND d.producer_output = po.path)) ORDER BY po.idx)
    FROM plan_output po WHERE po.plan_id = r.plan_id), '[]'::json) AS outputs,
  (SELECT d.id FROM data d WHERE d.producer_run_id = r.id AND d.producer_output = 'log') AS log_data_id
FROM run r JOIN plan p ON p.id = r.plan_id`;

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

function toDetail(r: RunRow): RunDetail {
  return {
    id: r.id,
    status: r.status,
    attempt: r.attempt,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
    exitCode: r.exit_code,
    message: r.message,
    stopRequested: r.stop_requested,
    plan: { id: r.plan_id, image: r.image, entrypoint: r.entrypoint, args: r.args },
    inputs: r.inputs,
    outputs: r.outputs,
    log: { dataId: r.log_data_id },
  };
}

export async function getRun(q: Queryable, id: string): Promise<RunDetail | undefined> {
  const r = await q.query<RunRow>(`${SELECT} WHERE r.id = $1`, [id]);
  return r.rows[0] ? toDetail(r.rows[0]) : undefined;
}

/** The runs of the given ids that exist, in one query (for lists that show many Data's producers). */
export async function getRuns(q: Queryable, ids: readonly string[]): Promise<RunDetail[]> {
  if (ids.length === 0) return [];
  const r = await q.query<RunRow>(`${SELECT} WHERE r.id = ANY($1::uuid[]) ORDER BY r.updated_at, r.id`, [[...new Set(ids)]]);
  return r.rows.map(toDetail);
}

/** The runs that read any of the given Data, in one query. */
export async function runsReadingAny(q: Queryable, dataIds: readonly string[]): Promise<RunDetail[]> {
  if (dataIds.length === 0) return [];
  const r = await q.query<RunRow>(
    `${SELECT} WHERE EXISTS (SELECT 1 FROM run_input ri WHERE ri.run_id = r.id AND ri.data_id = ANY($1::uuid[])) ORDER BY r.updated_at, r.id`,
    [[...new Set(dataIds)]],
  );
  return r.rows.map(toDetail);
}

/** Ids of runs starting with the prefix, at most `limit`, in id order (the primary key's range). */
export async function runIdsWithPrefix(q: Queryable, prefix: IdPrefix, limit: number): Promise<string[]> {
  const r = await q.query<{ id: string }>('SELECT id FROM run WHERE id BETWEEN $1::uuid AND $2::uuid ORDER BY id LIMIT $3', [prefix.lo, prefix.hi, limit]);
  return r.rows.map((row) => row.id);
}

function findConditions(f: RunQuery, params: SqlParams): string[] {
  const p = (v: unknown) => params.add(v);
  const where: string[] = [];
  if (f.plan.length) where.push(`r.plan_id = ANY(${p(f.plan)}::uuid[])`);
  if (f.status.length) where.push(`r.status = ANY(${p(f.status)}::text[])`);
  // Every one of the given Data, counted: the text does not grow with the ids.
  const inIds = [...new Set(f.in)];
  const outIds = [...new Set(f.out)];
  if (inIds.length) where.push(`(SELECT count(DISTINCT ri.data_id) FROM run_input ri WHERE ri.run_id = r.id AND ri.data_id = ANY(${p(inIds)}::uuid[])) = ${p(inIds.length)}`);
  if (outIds.length) where.push(`(SELECT count(*) FROM data d WHERE d.producer_run_id = r.id AND d.id = ANY(${p(outIds)}::uuid[])) = ${p(outIds.length)}`);
  if (f.since) {
    where.push(`r.updated_at >= ${p(f.since)}`);
    if (f.duration !== undefined) where.push(`r.updated_at < ${p(new Date(f.since.getTime() + f.duration))}`);
  }
  return where;
}

/** Every run the query selects, least recently updated first. */
export async function findRuns(q: Queryable, f: RunQuery): Promise<RunDetail[]> {
  const params = new SqlParams();
  const where = findConditions(f, params);
  const r = await q.query<RunRow>(`${SELECT} ${whereClause(where)} ORDER BY r.updated_at, r.id`, params.values);
  return r.rows.map(toDetail);
}

/**
 * One page of the runs the query selects, oldest created first: creation, unlike the last
 * update, never changes, so a run moving on while a client pages is neither skipped nor repeated.
 */
export async function findRunsPage(q: Queryable, f: RunQuery, page: PageRequest): Promise<Page<RunDetail>> {
  const params = new SqlParams();
  return selectPage(q, { sql: SELECT, alias: 'r', where: findConditions(f, params), params }, page, toDetail);
}

export async function lockRun(tx: Tx, id: string): Promise<{ status: RunStatus; attempt: number; planId: string; stopRequested: 'stop' | 'fail' | null }> {
  const r = await tx.query<{ status: RunStatus; attempt: number; plan_id: string; stop_requested: 'stop' | 'fail' | null }>(
    'SELECT status, attempt, plan_id, stop_requested FROM run WHERE id = $1 FOR UPDATE',
    [id],
  );
  const row = r.rows[0];
  if (!row) throw notFound('run', id);
  return { status: row.status, attempt: row.attempt, planId: row.plan_id, stopRequested: row.stop_requested };
}

/**
 * Moves a run of a given attempt to `to`, if the transition table allows it from where it is.
 * Returns false when the attempt is not current or the run is already past that point.
 */
export async function setStatus(q: Queryable, id: string, attempt: number, to: RunStatus, extra: { exitCode?: number | null; message?: string | null } = {}): Promise<boolean> {
  const sets = ['status = $3', `updated_at = ${now}`];
  const params = new SqlParams([id, attempt, to, sourcesOf(to)]);
  if (to === 'running') sets.push(`started_at = COALESCE(started_at, ${now})`);
  if (TERMINAL.includes(to)) sets.push(`finished_at = ${now}`);
  if (extra.exitCode !== undefined) sets.push(`exit_code = ${params.add(extra.exitCode)}`);
  if (extra.message !== undefined) sets.push(`message = ${params.add(extra.message)}`);
  const r = await q.query(`UPDATE run SET ${sets.join(', ')} WHERE id = $1 AND attempt = $2 AND status = ANY($4::text[])`, params.values);
  return (r.rowCount ?? 0) > 0;
}

