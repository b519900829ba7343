import { randomUUID } from 'node:crypto';
import { insertData } from '../../core/data/db.js';
import { withTx, type Pool } from '../../core/db/pool.js';
import { insertPlan } from '../../core/plan/db.js';
import { PlanSpec } from '../../core/plan/spec.js';
import { matchOutbox } from '../../core/run/matching.js';
import { parseTag } from '../../core/tags/tag.js';

/** Rows written straight to the database, for tests of the SQL below the API. */

const digest = `sha256:${'0'.repeat(64)}`;

/** An uploaded Data with these tags (its content is never read). */
export async function testData(pool: Pool, ...tags: string[]) {
  const id = randomUUID();
  return withTx(pool, (tx) => insertData(tx, { id, size: 1, digest, blobKey: `data/${id}`, tags: tags.map((t) => parseTag(t, 'tag')) }));
}

export async function testPlan(pool: Pool, spec: unknown) {
  return withTx(pool, (tx) => insertPlan(tx, PlanSpec.parse(spec)));
}

/** `n` waiting runs of a new one-input plan, matched from `n` new Data; their ids. */
export async function matchedRuns(pool: Pool, n: number): Promise<string[]> {
  const tag = `suite:${randomUUID().slice(0, 8)}`;
  const plan = await testPlan(pool, { image: 'x/y:1', inputs: [{ path: '/in', tags: [tag] }] });
  for (let i = 0; i < n; i++) await testData(pool, tag);
  for (;;) if (!(await matchOutbox(pool)).more) break;
  const r = await pool.query<{ id: string }>('SELECT id FROM run WHERE plan_id = $1', [plan.id]);
  return r.rows.map((x) => x.id);
}
