/**
 * Matching cost against the number of tags on one selector: `EXPLAIN (ANALYZE, FORMAT JSON)`
 * planning and execution time of the statements knit runs, for 1, 10, the maximum (the limit on
 * tags per selector) and beyond it 100 and 1,000 tags, on a database of 5,000 Data:
 *   - select: the selector alone, as a plan dry run (previewPlan) runs it per input;
 *   - find: `GET /api/data?tag=…` (findData): the selector, plus each Data's tags returned
 *     (the matching Data hold as many tags as the largest selector, so this grows with it);
 *   - createRuns: the matcher's run creation for a one-input plan (in a transaction rolled back,
 *     so each repetition creates the same runs).
 * Every selector matches the same 500 Data. Target: planning time grows at most linearly with
 * the tags (the old one-EXISTS-per-tag SQL took 2 s to plan 100 tags).
 * KNIT_BENCH_TAGS=1,10,100 chooses the counts; DATABASE_URL a server (a fresh database on it).
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { findData } from '../core/data/db.js';
import type { Queryable, Tx } from '../core/db/pool.js';
import { LIMITS } from '../core/limits/limits.js';
import { previewPlan } from '../core/plan/db.js';
import { createRuns } from '../core/run/matching.js';
import { freshDatabase } from './lib/database.js';

const DATA = 5000;
const RICH_EVERY = 10;
const REPEAT = 3;
const COUNTS = (process.env['KNIT_BENCH_TAGS'] ?? `1,10,${LIMITS.tagsPerSelector},100,1000`).split(',').map(Number);

interface Timing {
  planningMs: number;
  executionMs: number;
}

/** A Queryable that only records the statement it is asked to run. */
function recorder(): { q: Queryable; last: () => { text: string; values: unknown[] } } {
  let last: { text: string; values: unknown[] } | undefined;
  const q = {
    query: async (text: string, values: unknown[] = []) => {
      last = { text, values };
      return { rows: [], rowCount: 0 };
    },
  } as unknown as Queryable;
  return { q, last: () => last! };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const db = await freshDatabase();
  const results: Record<string, unknown> = { bench: 'matching', database: db.kind, data: DATA, matching: DATA / RICH_EVERY };
  const client = await db.pool.connect();
  try {
    // A bound on the bench itself: the old SQL's planning grows explosively.
    await client.query("SET statement_timeout = '300s'");
    const maxTags = Math.max(...COUNTS);
    await client.query(
      `INSERT INTO data (id, created_at, size, digest, blob_key)
       SELECT gen_random_uuid(), now() - i * interval '1 ms', 1, 'sha256:' || repeat('0', 64), 'data/bench-' || i FROM generate_series(1, $1) i`,
      [DATA],
    );
    await client.query(`INSERT INTO data_tag (data_id, key, value) SELECT id, 'kind', 'k' || (abs(hashtext(id::text)) % 10) FROM data`);
    // Every tenth Data holds every f<j>:v; each selector below asks for the first n of them.
    await client.query(
      `INSERT INTO data_tag (data_id, key, value)
       SELECT d.id, 'f' || j, 'v' FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM data) d, generate_series(0, $2 - 1) j WHERE d.n % $1 = 0`,
      [RICH_EVERY, maxTags],
    );
    await client.query('ANALYZE');
    const planId = randomUUID();
    await client.query(
      `INSERT INTO plan (id, spec_hash, image, on_node, active, resources, annotations) VALUES ($1::uuid, $2, 'bench/matching:1', '{}', true, '{}', '[]')`,
      [planId, `bench-${planId}`],
    );

    const explain = async (s: { text: string; values: unknown[] }): Promise<Timing & { rows: number }> => {
      await client.query('BEGIN');
      try {
        const r = await client.query<{ 'QUERY PLAN': Array<{ 'Planning Time': number; 'Execution Time': number; Plan: { 'Actual Rows': number } }> }>(
          `EXPLAIN (ANALYZE, FORMAT JSON) ${s.text}`,
          s.values,
        );
        const p = r.rows[0]!['QUERY PLAN'][0]!;
        return { planningMs: p['Planning Time'], executionMs: p['Execution Time'], rows: p.Plan['Actual Rows'] };
      } finally {
        await client.query('ROLLBACK');
      }
    };
    const measure = async (s: { text: string; values: unknown[] }) => {
      const runs = [];
      for (let i = 0; i < REPEAT; i++) runs.push(await explain(s));
      return { planningMs: median(runs.map((r) => r.planningMs)), executionMs: median(runs.map((r) => r.executionMs)), rows: runs[0]!.rows, textBytes: s.text.length };
    };

    const table: Array<Record<string, number | string>> = [];
    for (const n of COUNTS) {
      const tags = Array.from({ length: n }, (_, j) => ({ key: `f${j}`, value: 'v' }));
      const preview = recorder();
      await previewPlan(preview.q, [{ path: '/in', tags }]);
      const p = await measure(preview.last());
      const find = recorder();
      await findData(find.q, { tag: tags });
      const f = await measure(find.last());
      const match = recorder();
      await createRuns(match.q as unknown as Tx, { id: planId, active: true, inputs: [{ tags }] });
      const m = await measure(match.last());
      const row = {
        tags: n,
        selectPlanMs: round(p.planningMs),
        selectExecMs: round(p.executionMs),
        findPlanMs: round(f.planningMs),
        findExecMs: round(f.executionMs),
        findRows: f.rows,
        createRunsPlanMs: round(m.planningMs),
        createRunsExecMs: round(m.executionMs),
        sqlBytes: m.textBytes,
      };
      table.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
    }
    results['byTags'] = table;
  } finally {
    client.release();
    await db.drop();
  }
  const rows = results['byTags'] as Array<Record<string, number>>;
  process.stdout.write(
    [
      `matching bench (database: ${db.kind}, ${DATA} Data, ${DATA / RICH_EVERY} matching each selector; median of ${REPEAT})`,
      'tags  select plan ms  select exec ms  find plan ms  find exec ms  createRuns plan ms  createRuns exec ms  SQL bytes',
      ...rows.map((r) =>
        [String(r['tags']).padStart(4), String(r['selectPlanMs']).padStart(14), String(r['selectExecMs']).padStart(15), String(r['findPlanMs']).padStart(12), String(r['findExecMs']).padStart(13), String(r['createRunsPlanMs']).padStart(19), String(r['createRunsExecMs']).padStart(19), String(r['sqlBytes']).padStart(10)].join(' '),
      ),
      JSON.stringify(results),
      '',
    ].join('\n'),
  );
  writeFileSync(new URL('../../bench/last-matching.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
}

const round = (x: number) => Math.round(x * 100) / 100;

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
