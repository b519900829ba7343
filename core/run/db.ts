import { randomUUID } from 'node:crypto';
import { conflict, notFound } from '../errors/knit-error.js';
import { SqlParams } from '../db/params.js';
import type { Queryable, Tx } from '../db/pool.js';
import { eligible, tagConditions } from '../data/selectors.js';
import { appendOutbox } from '../outbox/db.js';
import type { Tag } from '../tags/tag.js';
import type { AttemptContext, RunDetail, RunQuery } from './model.js';
import { assertTransition, RunStatus, sourcesOf, TERMINAL } from './status.js';

const now = `date_trunc('milliseconds', clock_timestamp())`;

// ---------- matching ----------

export interface MatchablePlan {
  id: string;
  active: boolean;
  inputs: ReadonlyArray<{ tags: readonly Tag[] }>;
}

/**
 * Creates the runs of `plan` that do not exist yet, set-wise in one statement: each input takes
 * the eligible Data holding all its tags; the candidates are their cross product; the unique key
 * (plan, input Data ids in input order) drops the combinations that already have a run. With
 * `restrict`, input `slot` only considers the given Data: the combinations a change can add.
 * Returns how many runs were created.
 */
export async function createRuns(tx: Tx, plan: MatchablePlan, restrict?: { slot: number; dataIds: readonly string[] }): Promise<number> {
  const params = new SqlParams([plan.id, plan.active ? 'waiting' : 'deactivated']);
  const ctes = plan.inputs.map((input, i) => {
    const conds = [eligible('d'), tagConditions('d', input.tags, params)];
    if (restrict?.slot === i) conds.push(`d.id = ANY(${params.add(restrict.dataIds)}::uuid[])`);
    return `s${i} AS (SELECT d.id FROM data d WHERE ${conds.join(' AND ')})`;
  });
  const key = plan.inputs.map((_, i) => `s${i}.id::text`).join(` || ',' || `);
  const from = plan.inputs.map((_, i) => `s${i}`).join(' CROSS JOIN ');
  const r = await tx.query<{ n: number }>(
    `WITH ${ctes.join(',\n')},
     created AS (
       INSERT INTO run (id, plan_id, input_key, status)
       SELECT gen_random_uuid(), $1, ${key}, $2 FROM ${from}
       ON CONFLICT (plan_id, input_key) DO NOTHING
       RETURNING id, input_key),
     inputs AS (
       INSERT INTO run_input (run_id, idx, data_id)
       SELECT c.id, k.ord - 1, k.val::uuid FROM created c, unnest(string_to_array(c.input_key, ',')) WITH ORDINALITY AS k(val, ord)
       RETURNING run_id)
     SELECT count(DISTINCT run_id)::int AS n FROM inputs`,
    params.values,
  );
  return r.rows[0]?.n ?? 0;
}

export async function runsToStart(q: Queryable, limit: number): Promise<Array<{ id: string; attempt: number; planId: string }>> {
  const r = await q.query<{ id: string; attempt: number; plan_id: string }>(
    `SELECT id, attempt, plan_id FROM run WHERE status = 'waiting' AND workflow_started = false ORDER BY created_at, id LIMIT $1`,
    [limit],
  );
  return r.rows.map((x) => ({ id: x.id, attempt: x.attempt, planId: x.plan_id }));
}

export async function markWorkflowStarted(q: Queryable, id: string, attempt: number): Promise<void> {
  await q.query('UPDATE run SET workflow_started = true WHERE id = $1 AND attempt = $2', [id, attempt]);
}

// ---------- reading ----------

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

export async function findRuns(q: Queryable, f: RunQuery): Promise<RunDetail[]> {
  const params = new SqlParams();
  const p = (v: unknown) => params.add(v);
  const where: string[] = [];
  if (f.plan.length) where.push(`r.plan_id = ANY(${p(f.plan)}::uuid[])`);
  if (f.status.length) where.push(`r.status = ANY(${p(f.status)}::text[])`);
  for (const id of f.in) where.push(`EXISTS (SELECT 1 FROM run_input ri WHERE ri.run_id = r.id AND ri.data_id = ${p(id)})`);
  for (const id of f.out) where.push(`EXISTS (SELECT 1 FROM data d WHERE d.producer_run_id = r.id AND d.id = ${p(id)})`);
  if (f.since) {
    where.push(`r.updated_at >= ${p(f.since)}`);
    if (f.duration !== undefined) where.push(`r.updated_at < ${p(new Date(f.since.getTime() + f.duration))}`);
  }
  const r = await q.query<RunRow>(`${SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY r.updated_at, r.id`, params.values);
  return r.rows.map(toDetail);
}

async function lockRun(tx: Tx, id: string): Promise<{ status: RunStatus; attempt: number; planId: string; stopRequested: 'stop' | 'fail' | null }> {
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

// ---------- an attempt ----------

export type BeginResult = { begun: true; context: AttemptContext } | { begun: false; reason: string };

/**
 * The first step of a run's workflow: waiting -> ready, and its output Data created as
 * `knit#transient:processing`. Repeating it for the same attempt returns the same context, so a
 * retried activity or a replaced workflow picks up where the last one was.
 */
export async function beginAttempt(tx: Tx, runId: string): Promise<BeginResult> {
  const run = await lockRun(tx, runId);
  if (run.status === 'deactivated') return { begun: false, reason: 'its plan is inactive' };
  if (TERMINAL.includes(run.status)) return { begun: false, reason: `it is already ${run.status}` };
  if (run.status === 'waiting') {
    assertTransition(runId, 'waiting', 'ready');
    await setStatus(tx, runId, run.attempt, 'ready');
  }
  const plan = await tx.query<{ image: string; entrypoint: string[] | null; args: string[] | null; resources: Record<string, string>; on_node: AttemptContext['onNode']; service_account: string | null; log_tags: Array<[string, string]> | null }>(
    'SELECT image, entrypoint, args, resources, on_node, service_account, log_tags FROM plan WHERE id = $1',
    [run.planId],
  );
  const p = plan.rows[0]!;
  const outputs = await tx.query<{ idx: number; path: string; tags: Array<[string, string]> }>('SELECT idx, path, tags FROM plan_output WHERE plan_id = $1 ORDER BY idx', [run.planId]);
  const existing = await tx.query<{ id: string; producer_output: string }>('SELECT id, producer_output FROM data WHERE producer_run_id = $1', [runId]);
  const dataFor = new Map(existing.rows.map((d) => [d.producer_output, d.id]));
  const ensure = async (output: string, tags: Array<[string, string]>): Promise<string> => {
    const found = dataFor.get(output);
    if (found) return found;
    const id = randomUUID();
    await tx.query(`INSERT INTO data (id, created_at, producer_run_id, producer_output, transient) VALUES ($1, ${now}, $2, $3, 'processing')`, [id, runId, output]);
    if (tags.length > 0) {
      await tx.query(`INSERT INTO data_tag (data_id, key, value) SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS x(k, v)`, [id, tags.map((t) => t[0]), tags.map((t) => t[1])]);
    }
    return id;
  };
  const outs: AttemptContext['outputs'] = [];
  for (const o of outputs.rows) outs.push({ idx: o.idx, path: o.path, dataId: await ensure(o.path, o.tags) });
  const logDataId = await ensure('log', p.log_tags ?? []);
  const inputs = await tx.query<{ idx: number; path: string; data_id: string; blob_key: string; digest: string; size: number }>(
    `SELECT ri.idx, pi.path, ri.data_id, d.blob_key, d.digest, d.size
     FROM run_input ri JOIN plan_input pi ON pi.plan_id = $2 AND pi.idx = ri.idx JOIN data d ON d.id = ri.data_id
     WHERE ri.run_id = $1 ORDER BY ri.idx`,
    [runId, run.planId],
  );
  return {
    begun: true,
    context: {
      runId,
      attempt: run.attempt,
      planId: run.planId,
      image: p.image,
      entrypoint: p.entrypoint,
      args: p.args,
      resources: p.resources,
      onNode: p.on_node,
      serviceAccount: p.service_account,
      inputs: inputs.rows.map((i) => ({ idx: i.idx, path: i.path, dataId: i.data_id, blobKey: i.blob_key, digest: i.digest, size: i.size })),
      outputs: outs,
      log: { dataId: logDataId },
    },
  };
}

export interface StoredContent {
  dataId: string;
  size: number;
  digest: string;
  blobKey: string;
}

export interface Outcome {
  status: 'done' | 'failed';
  exitCode: number | null;
  message: string | null;
  contents: StoredContent[];
}

/**
 * The last step of an attempt, in one transaction: the run becomes done or failed with its exit
 * code and message, its outputs and log get their content (eligible as inputs when done,
 * `knit#transient:failed` otherwise), and an outbox event lets downstream plans react.
 * Returns false if the attempt had already finished (a repeated call).
 */
export async function finishAttempt(tx: Tx, runId: string, attempt: number, outcome: Outcome): Promise<boolean> {
  const run = await lockRun(tx, runId);
  if (run.attempt !== attempt || TERMINAL.includes(run.status)) return false;
  const via: RunStatus = outcome.status === 'done' ? 'completing' : 'aborting';
  if (run.status !== via) {
    assertTransition(runId, run.status, via);
    await setStatus(tx, runId, attempt, via);
  }
  for (const c of outcome.contents) {
    await tx.query(
      `UPDATE data SET size = $2, digest = $3, blob_key = $4, transient = $5 WHERE id = $1 AND producer_run_id = $6 AND transient = 'processing'`,
      [c.dataId, c.size, c.digest, c.blobKey, outcome.status === 'done' ? null : 'failed', runId],
    );
  }
  const pending = await tx.query(`SELECT id FROM data WHERE producer_run_id = $1 AND transient = 'processing'`, [runId]);
  if ((pending.rowCount ?? 0) > 0) throw new Error(`run ${runId} cannot finish: ${pending.rowCount} of its outputs have no stored content`);
  await setStatus(tx, runId, attempt, outcome.status, { exitCode: outcome.exitCode, message: outcome.message });
  await appendOutbox(tx, 'run.finished', runId);
  return true;
}

// ---------- user actions ----------

/** Records a stop request; the run's workflow acts on it. */
export async function requestStop(tx: Tx, runId: string, fail: boolean): Promise<void> {
  const run = await lockRun(tx, runId);
  if (TERMINAL.includes(run.status) || run.status === 'deactivated') {
    throw conflict(`run ${runId} is ${run.status}; only a run in progress can be stopped`, { status: run.status });
  }
  if (!fail && !['starting', 'running'].includes(run.status)) {
    throw conflict(`run ${runId} is ${run.status} and has no container yet, so there is nothing to keep: use --fail to cancel it`, { status: run.status });
  }
  await tx.query(`UPDATE run SET stop_requested = $2, updated_at = ${now} WHERE id = $1`, [runId, fail ? 'fail' : 'stop']);
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
       stop_requested = NULL, started_at = NULL, finished_at = NULL, updated_at = ${now} WHERE id = $1`,
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
