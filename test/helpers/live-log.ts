import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../core/db/pool.js';
import { readLiveLogChunks, type LiveLogChunk } from '../../core/run/live-log-db.js';

/** A plan row and a run row of it with `status`, straight in SQL: live-log tests need no more. */
export async function insertRun(q: Queryable, status: string, attempt = 1): Promise<string> {
  const plan = randomUUID();
  await q.query(
    `INSERT INTO plan (id, spec_hash, image, on_node, active, resources, annotations)
     VALUES ($1, $2, 'repo/live:1', '[]', true, '{}', '[]')`,
    [plan, plan],
  );
  const id = randomUUID();
  await q.query('INSERT INTO run (id, plan_id, input_key, status, attempt) VALUES ($1, $2, $3, $4, $5)', [id, plan, id, status, attempt]);
  return id;
}

/** Every chunk of an attempt's live log, paging as a follower does. */
export async function allChunks(q: Queryable, runId: string, attempt = 1): Promise<LiveLogChunk[]> {
  const out: LiveLogChunk[] = [];
  for (;;) {
    const page = await readLiveLogChunks(q, runId, attempt, out.at(-1)?.seq ?? -1, 4);
    out.push(...page);
    if (page.length < 4) return out;
  }
}

export const logLine = (n: number, text = `line-${n}`) => ({ stream: 'stdout' as const, timestamp: `2026-11-26T05:00:${String(n).padStart(2, '0')}.${n}00Z`, text });
