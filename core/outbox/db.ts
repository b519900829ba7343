import type { Queryable } from '../db/pool.js';

/**
 * Kinds of change the matcher cares about. They are written in the same transaction as the
 * change itself, so no change can be committed without the matcher learning of it.
 */
export type OutboxKind = 'data.created' | 'data.tagged' | 'plan.applied' | 'plan.activated' | 'plan.deactivated' | 'run.finished' | 'run.retried';

export async function appendOutbox(q: Queryable, kind: OutboxKind, subjectId: string): Promise<number> {
  const r = await q.query<{ seq: number }>('INSERT INTO outbox (kind, subject_id) VALUES ($1, $2) RETURNING seq', [kind, subjectId]);
  return r.rows[0]!.seq;
}
