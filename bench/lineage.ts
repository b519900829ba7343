/**
 * Lineage at scale (issue 10): on a generated store of about 100,000 Data and 50,000 Runs, the
 * lineage of depth "all" downstream of one upload whose connected graph has about 10,000 nodes
 * (a binary tree of 3,333 runs, each with an output and a log), timed three ways:
 *   - sql: the one SQL statement alone, its answer received;
 *   - query: traceLineage, that statement and the graph's assembly (what the route spends);
 *   - json: JSON.stringify of traceLineage's answer, what Fastify spends serializing it;
 *   - route: GET /api/lineage/data/{id}?down=all through a real knitd in this process, JSON included;
 *   - cli: `knit data lineage -d -n all ID` as a person runs it (a new process, dot rendered);
 *   - cli tree: the same with `--format tree`, what a person at a terminal gets by default.
 * Targets: server time ≤ 200 ms; the CLI's rendering ≤ 1 s, dot and tree alike. Median of KNIT_BENCH_ROUNDS (3).
 * The route's time is also split into stages: the statement (sql), the graph's assembly (traceLineage
 * on the statement's answer replayed), serialization (json), and HTTP with the rest, the route less
 * those three (a difference of medians, so noisy), so a regression can be placed without a profiler.
 * DATABASE_URL chooses the server (a fresh database on it), else an in-memory PGlite;
 * KNIT_BENCH_EXPLAIN=1 prints the statement's EXPLAIN ANALYZE first.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildApi } from '../api/server.js';
import { withTx, type Queryable } from '../core/db/pool.js';
import { traceArgs, traceLineage, TRACE_SQL, type Lineage } from '../core/lineage/graph.js';
import { LIMITS } from '../core/limits/limits.js';
import { insertPlan } from '../core/plan/db.js';
import { PlanSpec } from '../core/plan/spec.js';
import { createLogger } from '../core/log/logger.js';
import { hostResourceBounds } from '../core/plan/resource-bounds.js';
import { LocalBlobStore } from '../core/storage/local-store.js';
import { freshDatabase } from './lib/database.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const RUNS = 50_000;
/** Runs in the traced tree: with the root upload, its pseudo run and each run's two Data, ~10,000 nodes. */
const TREE_RUNS = 3_333;
const UPLOADS = 1_000;
const ROUNDS = Number(process.env['KNIT_BENCH_ROUNDS'] ?? 3);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x * 10) / 10;

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${root}bin/knit.js`, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    child.stdout.on('data', (c: Buffer) => (bytes += c.length));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, bytes }));
  });
}

export async function main(): Promise<void> {
  const db = await freshDatabase();
  try {
    process.stderr.write(`generating ${RUNS} runs and ${UPLOADS + 2 * RUNS} Data on ${db.kind}\n`);
    const id = (kind: string, i: string) => `md5('${kind}' || ${i})::uuid`;
    const digest = `'sha256:${'0'.repeat(64)}'`;
    const plan = await withTx(db.pool, (tx) => insertPlan(tx, PlanSpec.parse({ image: 'bench/step:1', inputs: [{ path: '/in/0', tags: ['bench:in'] }], outputs: [{ path: '/out/0', tags: ['bench:out'] }] })));
    await db.pool.query(`INSERT INTO data (id, created_at, size, digest, blob_key) SELECT ${id('upload', 'g')}, now(), 1, ${digest}, 'data/u' || g FROM generate_series(0, ${UPLOADS - 1}) g`);
    await db.pool.query(`INSERT INTO data_tag (data_id, key, value) SELECT ${id('upload', 'g')}, 'bench', 'upload-' || g FROM generate_series(0, ${UPLOADS - 1}) g`);
    await db.pool.query(`INSERT INTO run (id, plan_id, input_key, status, exit_code) SELECT ${id('run', 'g')}, $1::uuid, 'k' || g, 'done', 0 FROM generate_series(1, ${RUNS}) g`, [plan.id]);
    await db.pool.query(`INSERT INTO data (id, created_at, size, digest, blob_key, producer_run_id, producer_output)
      SELECT ${id('out', 'g')}, now(), 1, ${digest}, 'data/o' || g, ${id('run', 'g')}, '/out/0' FROM generate_series(1, ${RUNS}) g
      UNION ALL SELECT ${id('log', 'g')}, now(), 1, ${digest}, 'data/l' || g, ${id('run', 'g')}, 'log' FROM generate_series(1, ${RUNS}) g`);
    await db.pool.query(`INSERT INTO data_tag (data_id, key, value) SELECT ${id('out', 'g')}, 'bench', 'out-' || g FROM generate_series(1, ${RUNS}) g`);
    // Run 1 reads the root upload; runs 2..TREE_RUNS read their parent's output (a binary tree);
    // every other run reads one of the other uploads, in components of its own.
    await db.pool.query(`INSERT INTO run_input (run_id, idx, data_id)
      SELECT ${id('run', 'g')}, 0, CASE WHEN g = 1 THEN ${id('upload', '0')} WHEN g <= ${TREE_RUNS} THEN ${id('out', '(g / 2)')} ELSE ${id('upload', `(1 + g % ${UPLOADS - 1})`)} END
      FROM generate_series(1, ${RUNS}) g`);
    await db.pool.query('ANALYZE');
    const rootId = (await db.pool.query<{ id: string }>(`SELECT ${id('upload', '0')}::text AS id`)).rows[0]!.id;
    const counts = (await db.pool.query<{ data: string; runs: string }>('SELECT (SELECT count(*) FROM data) AS data, (SELECT count(*) FROM run) AS runs')).rows[0]!;

    const app = await buildApi({
      pool: db.pool,
      store: new LocalBlobStore(`${root}dist/bench-lineage-store`),
      logger: createLogger('bench', 'silent'),
      config: { token: undefined, maxDataBytes: 1 << 30, maxRunsPerApply: 100, resourceBounds: hostResourceBounds(), allowNetwork: false },
      orchestrator: { wake: () => {}, stopRun: async () => true, close: async () => {} },
      onChange: () => {},
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    try {
      if (process.env['KNIT_BENCH_EXPLAIN']) {
        const plan = await db.pool.query(`EXPLAIN (ANALYZE, FORMAT TEXT) ${TRACE_SQL}`, traceArgs(rootId, 0, 'all', LIMITS.lineageNodes));
        process.stderr.write(`${plan.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n')}\n`);
      }
      let nodes = 0;
      const query: number[] = [];
      const assembly: number[] = [];
      const json: number[] = [];
      const sql: number[] = [];
      const route: number[] = [];
      const cliMs: number[] = [];
      const cliTreeMs: number[] = [];
      let dotBytes = 0;
      let treeBytes = 0;
      for (let i = 0; i < ROUNDS; i++) {
        let answer: unknown;
        sql.push(await timed(async () => (answer = await db.pool.query(TRACE_SQL, traceArgs(rootId, 0, 'all', LIMITS.lineageNodes)))));
        // The statement's answer replayed, so the assembly is timed alone rather than as a difference of noisy medians.
        const replay = { query: async () => answer } as unknown as Queryable;
        assembly.push(await timed(() => traceLineage(replay, rootId, 0, 'all')));
        let lineage: Lineage | undefined;
        query.push(await timed(async () => (lineage = await traceLineage(db.pool, rootId, 0, 'all'))));
        nodes = lineage!.nodes.length;
        json.push(await timed(async () => JSON.stringify(lineage)));
        route.push(await timed(async () => {
          const res = await fetch(`${url}/api/lineage/data/${rootId}?down=all`);
          if (res.status !== 200) throw new Error(`the route answered ${res.status}: ${await res.text()}`);
          await res.arrayBuffer();
        }));
        cliMs.push(await timed(async () => {
          const r = await cli(['data', 'lineage', '-d', '-n', 'all', rootId], { KNIT_SERVER: url, HOME: root });
          if (r.code !== 0) throw new Error(`knit data lineage exited ${r.code}`);
          dotBytes = r.bytes;
        }));
        cliTreeMs.push(await timed(async () => {
          const r = await cli(['data', 'lineage', '-d', '-n', 'all', '--format', 'tree', rootId], { KNIT_SERVER: url, HOME: root });
          if (r.code !== 0) throw new Error(`knit data lineage --format tree exited ${r.code}`);
          treeBytes = r.bytes;
        }));
      }
      const result = {
        database: db.kind,
        data: Number(counts.data),
        runs: Number(counts.runs),
        nodes,
        sqlMs: round(median(sql)),
        queryMs: round(median(query)),
        assemblyMs: round(median(assembly)),
        jsonMs: round(median(json)),
        routeMs: round(median(route)),
        cliMs: round(median(cliMs)),
        dotBytes,
        cliTreeMs: round(median(cliTreeMs)),
        treeBytes,
        targets: { serverMs: 200, cliMs: 1000, cliTreeMs: 1000 },
      };
      const stages = {
        sqlMs: result.sqlMs,
        assemblyMs: result.assemblyMs,
        jsonMs: result.jsonMs,
        httpMs: round(result.routeMs - result.sqlMs - result.assemblyMs - result.jsonMs),
      };
      process.stdout.write(
        `lineage bench (${result.database}, ${result.data} Data, ${result.runs} Runs; depth all over ${nodes} nodes; median of ${ROUNDS})\n` +
          `SQL ${result.sqlMs} ms  query ${result.queryMs} ms  route ${result.routeMs} ms (target ≤ 200)  CLI dot ${result.cliMs} ms (target ≤ 1000; ${dotBytes} bytes)  CLI tree ${result.cliTreeMs} ms (target ≤ 1000; ${treeBytes} bytes)\n` +
          `route by stage: SQL ${stages.sqlMs} ms, assembly ${stages.assemblyMs} ms, JSON ${stages.jsonMs} ms, HTTP and the rest ${stages.httpMs} ms\n${JSON.stringify({ ...result, stages })}\n`,
      );
      writeFileSync(new URL('../../bench/last-lineage.json', import.meta.url), `${JSON.stringify({ ...result, stages }, null, 2)}\n`);
    } finally {
      await app.close();
    }
  } finally {
    await db.drop();
  }
}

await main();
