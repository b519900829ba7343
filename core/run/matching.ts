import { eligible, tagConditions } from '../data/selectors.js';
import { SqlParams } from '../db/params.js';
import { withTx, type Pool, type Queryable, type Tx } from '../db/pool.js';
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

// One reconcile at a time, even if a timed-out activity attempt is still running somewhere.
const MATCH_LOCK = 7_420_003;

export interface MatchResult {
  /** Outbox events handled. */
  events: number;
  /** Highest outbox sequence number handled (0 if none). */
  highWater: number;
  /** Runs created. */
  created: number;
  /** True when more events are waiting than one batch takes. */
  more: boolean;
}

/**
 * Turns outbox events into runs, in one transaction that also consumes them. Events are deleted
 * rather than skipped past with a cursor: sequence numbers are allotted before commit, so a
 * slow transaction can commit a lower number after a higher one was already read.
 */
export async function matchOutbox(pool: Pool, batch = 1000): Promise<MatchResult> {
  return withTx(pool, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MATCH_LOCK]);
    const events = await tx.query<{ seq: number; kind: string; subject_id: string }>('SELECT seq, kind, subject_id FROM outbox ORDER BY seq LIMIT $1', [batch]);
    if (events.rows.length === 0) return { events: 0, highWater: 0, created: 0, more: false };

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

    let created = 0;
    // A new or reactivated plan: every combination of what is eligible now.
    for (const id of plans) {
      const plan = await getPlan(tx, id);
      if (plan) created += await createRuns(tx, plan);
    }
    // New or retagged Data: only combinations in which it fills an input it now qualifies for.
    if (data.size > 0) {
      const ids = [...data];
      const slots = await tx.query<{ plan_id: string; idx: number }>(
        `SELECT pi.plan_id, pi.idx FROM plan_input pi
         WHERE EXISTS (
           SELECT 1 FROM data d WHERE d.id = ANY($1::uuid[]) AND d.transient IS NULL
             AND NOT EXISTS (
               SELECT 1 FROM plan_input_tag t WHERE t.plan_id = pi.plan_id AND t.idx = pi.idx AND NOT (
                 CASE t.key
                   WHEN 'knit#id' THEN d.id::text = t.value
                   WHEN 'knit#timestamp' THEN d.created_at = t.value::timestamptz
                   ELSE EXISTS (SELECT 1 FROM data_tag dt WHERE dt.data_id = d.id AND dt.key = t.key AND dt.value = t.value)
                 END)))`,
        [ids],
      );
      const bySlot = new Map<string, number[]>();
      for (const s of slots.rows) bySlot.set(s.plan_id, [...(bySlot.get(s.plan_id) ?? []), s.idx]);
      for (const [planId, slots] of bySlot) {
        // A plan reconciled in full above already has these combinations.
        if (plans.has(planId)) continue;
        const plan = await getPlan(tx, planId);
        if (plan) for (const slot of slots) created += await createRuns(tx, plan, { slot, dataIds: ids });
      }
    }

    const seqs = events.rows.map((e) => e.seq);
    await tx.query('DELETE FROM outbox WHERE seq = ANY($1::bigint[])', [seqs]);
    return { events: seqs.length, highWater: Math.max(...seqs), created, more: events.rows.length === batch };
  });
}
