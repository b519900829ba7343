import { z } from 'zod';
import type { Queryable } from '../db/pool.js';
import { LIMITS } from '../limits/limits.js';

export const LineageNode = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('data'),
    id: z.string(),
    tags: z.array(z.string()),
    createdAt: z.string(),
    transient: z.enum(['processing', 'failed']).nullable(),
  }),
  z.object({
    kind: z.literal('run'),
    id: z.string(),
    planId: z.string().nullable(),
    image: z.string().nullable(),
    status: z.string(),
    /** The container's exit code once it has ended; null before, and for uploads. */
    exitCode: z.number().int().nullable().default(null),
    /** Uploads appear as runs of their own, with no plan: the roots of every lineage. */
    upload: z.boolean(),
  }),
]);
export type LineageNode = z.infer<typeof LineageNode>;

export const LineageEdge = z.object({
  from: z.string(),
  to: z.string(),
  /** The mount path of the input or output, `log`, or `upload`. */
  label: z.string(),
});
export type LineageEdge = z.infer<typeof LineageEdge>;

export const Lineage = z.object({
  root: z.string(),
  nodes: z.array(LineageNode),
  edges: z.array(LineageEdge),
  /** Present when the node cap cut the graph: the runs nearest the root were kept. */
  truncated: z.object({ maxNodes: z.number().int(), message: z.string() }).optional(),
});
export type Lineage = z.infer<typeof Lineage>;

export type Depth = number | 'all';

export const uploadRunId = (dataId: string) => `upload-${dataId}`;

/** Depth "all" as the query's bound: more generations than any lineage has. */
const ALL = 2_147_483_647;

/** Rows of TRACE_SQL's answer, positional (json_build_array), so the database spends nothing on repeating keys. */
type TracedRun = [id: string, planId: string, image: string, status: string, exitCode: number | null];
type TracedInput = [runId: string, dataId: string, path: string];
type TracedOutput = [runId: string, dataId: string, output: string, createdAt: string, transient: TracedData['transient']];
type OtherData = [id: string, createdAt: string, transient: TracedData['transient'], uploaded: boolean];
type TracedTag = [dataId: string, tag: string];
interface TracedData {
  createdAt: string;
  transient: 'processing' | 'failed' | null;
  uploaded: boolean;
}
interface Traced {
  found: boolean;
  runs: TracedRun[];
  inputs: TracedInput[];
  outputs: TracedOutput[];
  other_data: OtherData[];
  tags: TracedTag[];
}

/**
 * Whether the run reading `ri` was invalidated, asked so that the partial index run_invalidated_idx
 * answers it (migration 0011) without a visit to the run's row.
 */
const INVALIDATED = `EXISTS (SELECT 1 FROM run r WHERE r.id = ri.run_id AND r.status = 'invalidated')`;

/**
 * created_at as Date.prototype.toISOString writes it (UTC, milliseconds truncated), whatever the
 * session's TimeZone: the server formats it faster than Node parses and reformats thousands of them.
 */
const ISO_CREATED_AT = `to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at`;

/**
 * One statement: the runs `up` generations upstream of the Data (each producer, then the
 * producers of its inputs, ...) and `down` generations downstream (each run reading it, then the
 * runs reading their outputs, ...), each at its nearest generation, the nearest `maxRuns`; then
 * those runs' inputs and outputs and every Data they touch, with tags. Recursion joins only
 * indexed columns (data.producer_run_id, run_input's key and data_id; whether a run was
 * invalidated is INVALIDATED's question to its partial index), and (run, generation) pairs are
 * kept once, so a diamond of many paths costs no more than its runs times its depth.
 *
 * Each run and each Data is read once after the recursion: traced_runs serves both the runs'
 * list and their inputs' mount paths; the outputs of traced runs come with their own columns from
 * the scan by producer, and only the other Data (the root, inputs made elsewhere or uploaded) are
 * looked up by id. Every list is flat, one small array per row, and tags come already written
 * KEY:VALUE: correlated sub-aggregates per run or per Data, and objects with repeated keys, cost
 * the server more than the joins themselves.
 */
export const TRACE_SQL = `
WITH RECURSIVE
up_runs(run_id, depth) AS (
  SELECT d.producer_run_id, 1 FROM data d WHERE d.id = $1 AND d.producer_run_id IS NOT NULL AND $2::int >= 1
  UNION
  SELECT d.producer_run_id, u.depth + 1
  FROM up_runs u JOIN run_input ri ON ri.run_id = u.run_id JOIN data d ON d.id = ri.data_id
  WHERE d.producer_run_id IS NOT NULL AND u.depth < $2::int
),
down_runs(run_id, depth) AS (
  SELECT ri.run_id, 1 FROM run_input ri
  WHERE ri.data_id = $1 AND $3::int >= 1 AND NOT ${INVALIDATED}
  UNION
  SELECT ri.run_id, w.depth + 1
  FROM down_runs w JOIN data d ON d.producer_run_id = w.run_id JOIN run_input ri ON ri.data_id = d.id
  WHERE w.depth < $3::int AND NOT ${INVALIDATED}
),
traced AS (
  SELECT run_id, min(depth) AS depth FROM (SELECT * FROM up_runs UNION ALL SELECT * FROM down_runs) x
  GROUP BY run_id ORDER BY min(depth), run_id LIMIT $4
),
traced_runs AS (
  SELECT t.depth, r.id, r.plan_id, p.image, r.status, r.exit_code FROM traced t JOIN run r ON r.id = t.run_id JOIN plan p ON p.id = r.plan_id
),
inputs AS (
  SELECT ri.run_id, ri.idx, ri.data_id, pi.path FROM traced_runs r
  JOIN run_input ri ON ri.run_id = r.id JOIN plan_input pi ON pi.plan_id = r.plan_id AND pi.idx = ri.idx
),
outputs AS (
  SELECT d.producer_run_id AS run_id, d.id, d.producer_output AS output, ${ISO_CREATED_AT}, d.transient
  FROM traced t JOIN data d ON d.producer_run_id = t.run_id
),
other_data AS (
  SELECT d.id, ${ISO_CREATED_AT}, d.transient, d.producer_run_id IS NULL AS uploaded FROM data d
  WHERE d.id IN (SELECT $1::uuid UNION SELECT data_id FROM inputs EXCEPT SELECT id FROM outputs)
)
SELECT
  EXISTS (SELECT 1 FROM data WHERE id = $1) AS found,
  COALESCE((SELECT json_agg(json_build_array(id, plan_id, image, status, exit_code) ORDER BY depth, id) FROM traced_runs), '[]'::json) AS runs,
  COALESCE((SELECT json_agg(json_build_array(run_id, data_id, path) ORDER BY run_id, idx) FROM inputs), '[]'::json) AS inputs,
  COALESCE((SELECT json_agg(json_build_array(run_id, id, output, created_at, transient) ORDER BY run_id, output, id) FROM outputs), '[]'::json) AS outputs,
  COALESCE((SELECT json_agg(json_build_array(id, created_at, transient, uploaded)) FROM other_data), '[]'::json) AS other_data,
  COALESCE((SELECT json_agg(json_build_array(g.data_id, g.key || ':' || g.value) ORDER BY g.data_id, g.key, g.value) FROM data_tag g
    WHERE g.data_id IN (SELECT id FROM outputs UNION ALL SELECT id FROM other_data)), '[]'::json) AS tags`;

/** TRACE_SQL's parameters. Each run brings at least one node: one more run than the cap tells a cut graph from a full one. */
export function traceArgs(dataId: string, up: Depth, down: Depth, maxNodes: number): [string, number, number, number] {
  const bound = (d: Depth) => (d === 'all' ? ALL : Math.min(d, ALL));
  return [dataId, bound(up), bound(down), maxNodes + 1];
}

/**
 * The lineage around one Data, in one database statement (TRACE_SQL): `up` generations of producing
 * runs and their inputs, `down` generations of consuming runs and their outputs. A run in the
 * graph brings all its inputs and outputs, so each run reads complete; a Data without a producer
 * is an upload, drawn as a root run of its own. At most `maxNodes` nodes: past it, the runs
 * nearest the Data are kept, whole, and `truncated` says so.
 */
export async function traceLineage(q: Queryable, dataId: string, up: Depth, down: Depth, maxNodes: number = LIMITS.lineageNodes): Promise<Lineage> {
  const r = await q.query<Traced>(TRACE_SQL, traceArgs(dataId, up, down, maxNodes));
  const traced = r.rows[0]!;
  if (!traced.found) throw Object.assign(new Error(`data ${dataId} not found`), { notFound: true });

  const dataById = new Map<string, TracedData>();
  for (const [id, createdAt, transient, uploaded] of traced.other_data) dataById.set(id, { createdAt, transient, uploaded });
  for (const [, id, , createdAt, transient] of traced.outputs) dataById.set(id, { createdAt, transient, uploaded: false });
  const tagsOf = groupBy(traced.tags, (g) => g[0]);
  const inputsOf = groupBy(traced.inputs, (i) => i[0]);
  const outputsOf = groupBy(traced.outputs, (o) => o[0]);
  const nodes = new Map<string, LineageNode>();
  const edges: LineageEdge[] = [];
  const addData = (id: string) => {
    const d = dataById.get(id);
    if (!d || nodes.has(id)) return;
    const tags = (tagsOf.get(id) ?? []).map((g) => g[1]);
    nodes.set(id, { kind: 'data', id, tags, createdAt: d.createdAt, transient: d.transient });
    if (d.uploaded) {
      const u = uploadRunId(id);
      nodes.set(u, { kind: 'run', id: u, planId: null, image: null, status: 'done', exitCode: null, upload: true });
      edges.push({ from: u, to: id, label: 'upload' });
    }
  };
  addData(dataId);
  let truncated = false;
  // The Data (and uploads) a run would add, counted before it is taken, so no run is half drawn.
  const fresh = new Set<string>();
  let uploads = 0;
  const countFresh = (row: TracedInput | TracedOutput) => {
    const id = row[1];
    if (nodes.has(id) || fresh.has(id)) return;
    fresh.add(id);
    if (dataById.get(id)?.uploaded) uploads++;
  };
  for (const [runId, planId, image, status, exitCode] of traced.runs) {
    const ins = inputsOf.get(runId) ?? [];
    const outs = outputsOf.get(runId) ?? [];
    fresh.clear();
    uploads = 0;
    ins.forEach(countFresh);
    outs.forEach(countFresh);
    if (nodes.size + 1 + fresh.size + uploads > maxNodes) {
      truncated = true;
      break;
    }
    nodes.set(runId, { kind: 'run', id: runId, planId, image, status, exitCode, upload: false });
    for (const [, inputId, path] of ins) {
      addData(inputId);
      edges.push({ from: inputId, to: runId, label: path });
    }
    for (const [, outputId, output] of outs) {
      addData(outputId);
      edges.push({ from: runId, to: outputId, label: output });
    }
  }
  if (traced.runs.length > maxNodes) truncated = true;
  const lineage: Lineage = { root: dataId, nodes: [...nodes.values()], edges };
  if (truncated) {
    lineage.truncated = {
      maxNodes,
      message: `the lineage has more than ${maxNodes} nodes; the ${nodes.size} nearest ${dataId} are shown. Ask for fewer generations (up/down), or raise the cap (max, up to KNIT_LINEAGE_MAX_NODES)`,
    };
  }
  return lineage;
}

/** Items by key, each key's in their order. */
export function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}
