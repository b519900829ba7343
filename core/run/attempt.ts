import { randomUUID } from 'node:crypto';
import type { Tx } from '../db/pool.js';
import { appendOutbox } from '../outbox/db.js';
import type { AttemptContext } from './model.js';
import { assertTransition, canTransition, TERMINAL, type RunStatus } from './status.js';
import { lockRun, now, setStatus } from './store.js';

export type BeginResult =
  /** `stopRequested`: a stop that came before the workflow existed to be signalled. */
  | { begun: true; context: AttemptContext; stopRequested?: 'stop' | 'fail' | null }
  | { begun: false; reason: string };

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
  const plan = await tx.query<{ image: string; entrypoint: string[] | null; args: string[] | null; resources: Record<string, string>; on_node: AttemptContext['onNode']; service_account: string | null; log_tags: Array<[string, string]> | null; network: boolean; annotations: string[] }>(
    'SELECT image, entrypoint, args, resources, on_node, service_account, log_tags, network, annotations FROM plan WHERE id = $1',
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
    stopRequested: run.stopRequested,
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
      network: p.network,
      annotations: annotationRecord(p.annotations),
      inputs: inputs.rows.map((i) => ({ idx: i.idx, path: i.path, dataId: i.data_id, blobKey: i.blob_key, digest: i.digest, size: i.size })),
      outputs: outs,
      log: { dataId: logDataId },
    },
  };
}

/** The plan spec's `key=value` annotations as a record; the value may hold '='. */
function annotationRecord(entries: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const at = e.indexOf('=');
    out[at < 0 ? e : e.slice(0, at)] = at < 0 ? '' : e.slice(at + 1);
  }
  return out;
}

/**
 * Fails a waiting run whose attempt could not begin (its waiting → ready before hook refused, or
 * it was stopped while that hook was retried): waiting → aborting → failed with `message`, and
 * the outbox event of a finished run. False if the run was no longer waiting.
 */
export async function refuseBegin(tx: Tx, runId: string, message: string): Promise<boolean> {
  const run = await lockRun(tx, runId);
  if (run.status !== 'waiting') return false;
  await setStatus(tx, runId, run.attempt, 'aborting');
  await setStatus(tx, runId, run.attempt, 'failed', { exitCode: null, message });
  await appendOutbox(tx, 'run.finished', runId);
  return true;
}

/**
 * With hooks, the run enters completing or aborting as a step of its own, so that the hooks see
 * it (without, finishAttempt passes through it in its transaction). A recorded `stop --fail`
 * turns completing into aborting, as finishAttempt would. Returns the status it is in.
 */
export async function enterFinish(tx: Tx, runId: string, attempt: number, via: 'completing' | 'aborting'): Promise<RunStatus> {
  const run = await lockRun(tx, runId);
  if (run.attempt !== attempt) return run.status;
  const to: RunStatus = via === 'completing' && run.stopRequested === 'fail' ? 'aborting' : via;
  if (run.status === to || !canTransition(run.status, to)) return run.status;
  await setStatus(tx, runId, attempt, to);
  return to;
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
 * code and message, its outputs and log get their content and their timestamp (eligible as
 * inputs when done, `knit#transient:failed` otherwise), and an outbox event lets downstream plans
 * react.
 * Returns false if the attempt had already finished (a repeated call).
 */
export async function finishAttempt(tx: Tx, runId: string, attempt: number, outcome: Outcome): Promise<boolean> {
  const run = await lockRun(tx, runId);
  if (run.attempt !== attempt || TERMINAL.includes(run.status)) return false;
  // The recorded stop decides, not only what the workflow heard: a stop recorded while Temporal
  // was down may reach the workflow late (after the container ended) or, before that, not at all.
  const { status, message } = honourRecordedStop(outcome, run.stopRequested);
  const via: RunStatus = status === 'done' ? 'completing' : 'aborting';
  if (run.status !== via) {
    assertTransition(runId, run.status, via);
    await setStatus(tx, runId, attempt, via);
  }
  for (const c of outcome.contents) {
    await tx.query(
      `UPDATE data SET size = $2, digest = $3, blob_key = $4, transient = $5, created_at = ${now} WHERE id = $1 AND producer_run_id = $6 AND transient = 'processing'`,
      [c.dataId, c.size, c.digest, c.blobKey, status === 'done' ? null : 'failed', runId],
    );
  }
  const pending = await tx.query(`SELECT id FROM data WHERE producer_run_id = $1 AND transient = 'processing'`, [runId]);
  if ((pending.rowCount ?? 0) > 0) throw new Error(`run ${runId} cannot finish: ${pending.rowCount} of its outputs have no stored content`);
  await setStatus(tx, runId, attempt, status, { exitCode: outcome.exitCode, message });
  await appendOutbox(tx, 'run.finished', runId);
  return true;
}


/**
 * The status and message a run finishes with, given the stop recorded for it: `fail` always ends
 * it failed; a `stop` the workflow did not act on (the container ended first) is said so.
 */
export function honourRecordedStop(outcome: Pick<Outcome, 'status' | 'message'>, stopRequested: 'stop' | 'fail' | null): { status: 'done' | 'failed'; message: string | null } {
  if (stopRequested === 'fail' && outcome.status === 'done') {
    return { status: 'failed', message: outcome.message === null ? 'stopped by user' : `stopped by user; ${outcome.message}` };
  }
  if (stopRequested === 'stop' && outcome.message === null) {
    return { status: outcome.status, message: 'stopped by user, but the container had ended on its own before the stop reached it' };
  }
  return { status: outcome.status, message: outcome.message };
}
