import { eligible, tagConditions } from '../data/selectors.js';
import { SqlParams } from '../db/params.js';
import { QUERY_CANCELED } from '../db/query-canceled.js';
import { withTx, type Pool, type Queryable, type Tx } from '../db/pool.js';
import { LIMITS } from '../limits/limits.js';
import { getPlan } from '../plan/db.js';
import type { Tag } from '../tags/tag.js';

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
export async function createRuns(tx: Tx, plan: MatchablePlan, restrict?: Restriction): Promise<number> {
  const params = new SqlParams([plan.id, plan.active ? 'waiting' : 'deactivated']);
  const ctes = plan.inputs.map((input, i) => `s${i} AS (${candidates(input, i, params, restrict)})`);
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

export interface Restriction {
  slot: number;
  dataIds: readonly string[];
}

/** The Data input `i` takes: eligible, holding all its tags, and among `restrict` for its slot. */
function candidates(input: MatchablePlan['inputs'][number], i: number, params: SqlParams, restrict: Restriction | undefined): string {
  const conds = [eligible('d'), tagConditions('d', input.tags, params)];
  if (restrict?.slot === i) conds.push(`d.id = ANY(${params.add(restrict.dataIds)}::uuid[])`);
  return `SELECT d.id FROM data d WHERE ${conds.join(' AND ')}`;
}

/**
 * At least how many runs createRuns would add: the size of the cross product, less the runs the
 * plan already has. Cheap (one count per input), so a plan over the bound is refused before
 * the database is asked to enumerate it.
 */
export async function newRunsAtLeast(tx: Tx, plan: MatchablePlan, restrict?: Restriction): Promise<number> {
  let product = 1;
  for (const [i, input] of plan.inputs.entries()) {
    const params = new SqlParams();
    const r = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM (${candidates(input, i, params, restrict)}) c`, params.values);
    product *= r.rows[0]!.n;
    if (product === 0) return 0;
  }
  const existing = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM run WHERE plan_id = $1', [plan.id]);
  return product - existing.rows[0]!.n;
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

// One reconcile at a time, even if a timed-out activity attempt is still running somewhere.
const MATCH_LOCK = 7_420_003;

export interface MatchOptions {
  /** Outbox events taken per pass. */
  batch?: number;
  /** The longest one plan's run creation may take; beyond it that plan is rolled back and marked. */
  planTimeoutMs?: number;
  /** Runs one plan may create in one pass; a plan that would create more is marked instead. */
  maxRunsPerPlan?: number;
}

export interface MatchResult {
  /** Outbox events handled. */
  events: number;
  /** Highest outbox sequence number handled (0 if none). */
  highWater: number;
  /** Runs created. */
  created: number;
  /** True when more events are waiting than one batch takes. */
  more: boolean;
  /** Plans whose run creation failed in this pass: rolled back, marked, tried again later. */
  failed: Array<{ planId: string; error: string }>;
}

/** A plan that would create more runs at once than a pass may. */
class TooManyRuns extends Error {}

/**
 * Turns outbox events into runs, in one transaction that also consumes them. Events are deleted
 * rather than skipped past with a cursor: sequence numbers are allotted before commit, so a
 * slow transaction can commit a lower number after a higher one was already read.
 *
 * Each plan's run creation has its own savepoint and statement timeout, so one plan that fails
 * (too slow, too many runs, an error) is rolled back alone and marked on its row, while the
 * others match and the events are consumed. A marked plan is reconciled in full again once its
 * back-off has passed (every pass looks), and unmarked when that succeeds.
 */
export async function matchOutbox(pool: Pool, opts: MatchOptions = {}): Promise<MatchResult> {
  const batch = opts.batch ?? 1000;
  const guard = { timeoutMs: opts.planTimeoutMs ?? LIMITS.matchStatementMs, maxRuns: opts.maxRunsPerPlan ?? LIMITS.runsPerMatch };
  return withTx(pool, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MATCH_LOCK]);
    const events = await tx.query<{ seq: number; kind: string; subject_id: string }>('SELECT seq, kind, subject_id FROM outbox ORDER BY seq LIMIT $1', [batch]);

    const plans = new Set<string>();
    const data = new Set<string>();
    for (const e of events.rows) {
      if (e.kind === 'plan.applied' || e.kind === 'plan.activated') plans.add(e.subject_id);
      else if (e.kind === 'data.created' || e.kind === 'data.tagged') data.add(e.subject_id);
      else if (e.kind === 'run.finished') {
        const outs = await tx.query<{ id: string }>('SELECT id FROM data WHERE producer_run_id = $1 AND transient IS NULL', [e.subject_id]);
        for (const o of outs.rows) data.add(o.id);
      }
    }
    // Marked plans whose back-off has passed: in full, as if just applied.
    const due = await tx.query<{ id: string }>('SELECT id FROM plan WHERE match_error IS NOT NULL AND match_retry_at <= now() ORDER BY match_retry_at LIMIT $1', [batch]);
    for (const p of due.rows) plans.add(p.id);

    let created = 0;
    const failed: MatchResult['failed'] = [];
    const attempt = async (planId: string, restricts: ReadonlyArray<Restriction | undefined>) => {
      const r = await matchPlan(tx, planId, restricts, guard);
      if (typeof r === 'number') created += r;
      else failed.push({ planId, error: r.error });
    };
    // A new, reactivated or retried plan: every combination of what is eligible now.
    for (const id of plans) await attempt(id, [undefined]);
    // New or retagged Data: only combinations in which it fills an input it now qualifies for.
    if (data.size > 0) {
      const ids = [...data];
      const bySlot = new Map<string, number[]>();
      for (const s of (await slotsTaking(tx, ids))) bySlot.set(s.plan_id, [...(bySlot.get(s.plan_id) ?? []), s.idx]);
      for (const [planId, slots] of bySlot) {
        // A plan reconciled in full above already has these combinations.
        if (plans.has(planId)) continue;
        await attempt(planId, slots.map((slot) => ({ slot, dataIds: ids })));
      }
    }

    if (events.rows.length === 0) return { events: 0, highWater: 0, created, more: false, failed };
    const seqs = events.rows.map((e) => e.seq);
    await tx.query('DELETE FROM outbox WHERE seq = ANY($1::bigint[])', [seqs]);
    return { events: seqs.length, highWater: Math.max(...seqs), created, more: events.rows.length === batch, failed };
  });
}

/**
 * Inputs (plan, slot) that at least one of `dataIds` now qualifies for. Set-wise: each Data's
 * tags are joined to the input tags that name them, and an input qualifies when every one of its
 * tags was hit, so the cost grows with the number of tags, not with their combinations.
 */
/**
 * Whether any plan's input could take one of the run's finished outputs, by the test a matching
 * pass makes (slotsTaking). When none can, the pass a wake-up would set off creates nothing, and
 * its outbox event can wait for the next pass: a plan applied or a Data retagged later wakes the
 * matcher itself, and its pass sees these outputs.
 */
export async function outputsFeedAPlan(q: Queryable, runId: string): Promise<boolean> {
  const outs = await q.query<{ id: string }>('SELECT id FROM data WHERE producer_run_id = $1 AND transient IS NULL', [runId]);
  if (outs.rows.length === 0) return false;
  return (await slotsTaking(q, outs.rows.map((o) => o.id))).length > 0;
}

async function slotsTaking(q: Queryable, dataIds: readonly string[]): Promise<Array<{ plan_id: string; idx: number }>> {
  const r = await q.query<{ plan_id: string; idx: number }>(
    `WITH d AS (SELECT id, created_at FROM data WHERE id = ANY($1::uuid[]) AND transient IS NULL),
     hit AS (
       SELECT t.plan_id, t.idx, d.id AS data_id FROM d
         JOIN data_tag dt ON dt.data_id = d.id
         JOIN plan_input_tag t ON t.key = dt.key AND t.value = dt.value
       UNION ALL
       SELECT t.plan_id, t.idx, d.id FROM d JOIN plan_input_tag t ON t.key = 'knit#id' AND t.value = d.id::text
       UNION ALL
       -- CASE, because AND does not order evaluation: no other tag's value may reach the cast.
       SELECT t.plan_id, t.idx, d.id FROM d JOIN plan_input_tag t
         ON t.key = 'knit#timestamp' AND d.created_at = CASE WHEN t.key = 'knit#timestamp' THEN t.value::timestamptz END),
     qualified AS (
       SELECT h.plan_id, h.idx FROM hit h GROUP BY h.plan_id, h.idx, h.data_id
       HAVING count(*) = (SELECT count(*) FROM plan_input_tag n WHERE n.plan_id = h.plan_id AND n.idx = h.idx))
     SELECT DISTINCT plan_id, idx FROM qualified ORDER BY plan_id, idx`,
    [dataIds],
  );
  return r.rows;
}

/**
 * Creates one plan's runs (for each restriction, or in full for `undefined`) inside a savepoint
 * under a statement timeout. Returns the runs created, or, when it failed, the error it was
 * rolled back for and marked with. A full pass that succeeds clears an earlier mark.
 */
async function matchPlan(
  tx: Tx,
  planId: string,
  restricts: ReadonlyArray<Restriction | undefined>,
  guard: { timeoutMs: number; maxRuns: number },
): Promise<number | { error: string }> {
  await tx.query('SAVEPOINT match_plan');
  try {
    // SET LOCAL set inside a savepoint is undone by rolling back to it; on success it is reset below.
    await tx.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(guard.timeoutMs))}`);
    const plan = await getPlan(tx, planId);
    const full = restricts.includes(undefined);
    let created = 0;
    // A marked plan gets the combinations of new Data when it is retried in full.
    if (plan && (full || !plan.matchError)) {
      for (const restrict of restricts) {
        const atLeast = await newRunsAtLeast(tx, plan, restrict);
        if (atLeast > guard.maxRuns) {
          throw new TooManyRuns(
            `this plan would create at least ${atLeast} runs at once, more than the ${guard.maxRuns} one matching pass may; narrow its inputs' tags`,
          );
        }
        created += await createRuns(tx, plan, restrict);
      }
      if (plan.matchError && full) {
        await tx.query('UPDATE plan SET match_error = NULL, match_failed_at = NULL, match_failures = 0, match_retry_at = NULL WHERE id = $1', [planId]);
      }
    }
    await tx.query('SET LOCAL statement_timeout TO DEFAULT');
    await tx.query('RELEASE SAVEPOINT match_plan');
    return created;
  } catch (err) {
    // The database asking for the whole transaction again is not this plan's fault.
    if (RETRY_WHOLE.has((err as { code?: string }).code ?? '')) throw err;
    await tx.query('ROLLBACK TO SAVEPOINT match_plan');
    await tx.query('RELEASE SAVEPOINT match_plan');
    const error = describeMatchError(err, guard.timeoutMs);
    // Backing off from the backstop's 30 s, doubling, to an hour: a plan that keeps failing costs little.
    await tx.query(
      `UPDATE plan SET match_error = $2, match_failed_at = now(), match_failures = match_failures + 1,
         match_retry_at = now() + least(interval '30 seconds' * power(2, least(match_failures, 20)), interval '1 hour')
       WHERE id = $1`,
      [planId, error],
    );
    return { error };
  }
}

const RETRY_WHOLE = new Set(['40001', '40P01']);

function describeMatchError(err: unknown, timeoutMs: number): string {
  if (err instanceof TooManyRuns) return err.message;
  if ((err as { code?: string }).code === QUERY_CANCELED) return `creating this plan's runs took longer than ${timeoutMs} ms and was cancelled`;
  return `creating this plan's runs failed: ${(err as Error).message}`;
}
