import { z } from 'zod';
import type { Queryable } from '../db/pool.js';
import { LIMITS } from '../limits/limits.js';
import { formatTag, tagsFromPairs } from '../tags/tag.js';

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

interface TracedRun {
  id: string;
  plan_id: string;
  image: string;
  status: string;
  exit_code: number | null;
  depth: number;
}
interface TracedData {
  id: string;
  created_at: string;
  transient: 'processing' | 'failed' | null;
  producer_run_id: string | null;
  tags: Array<[string, string]> | null;
}
interface Traced {
  found: boolean;
  runs: TracedRun[];
  inputs: Array<{ runId: string; dataId: string; path: string }>;
  outputs: Array<{ runId: string; dataId: string; output: string }>;
  data: TracedData[];
}

/**
 * One statement: the runs `up` generations upstream of the Data (each producer, then the
 * producers of its inputs, ...) and `down` generations downstream (each run reading it, then the
 * runs reading their outputs, ...), each at its nearest generation, the nearest `maxRuns`; then
 * those runs' inputs and outputs and every Data they touch, with tags. Recursion joins only
 * indexed columns (data.producer_run_id, run_input's key and data_id), and (run, generation)
 * pairs are kept once, so a diamond of many paths costs no more than its runs times its depth.
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
  SELECT ri.run_id, 1 FROM run_input ri JOIN run r ON r.id = ri.run_id
  WHERE ri.data_id = $1 AND r.status <> 'invalidated' AND $3::int >= 1
  UNION
  SELECT ri.run_id, w.depth + 1
  FROM down_runs w JOIN data d ON d.producer_run_id = w.run_id JOIN run_input ri ON ri.data_id = d.id JOIN run r ON r.id = ri.run_id
  WHERE r.status <> 'invalidated' AND w.depth < $3::int
),
traced AS (
  SELECT run_id, min(depth) AS depth FROM (SELECT * FROM up_runs UNION ALL SELECT * FROM down_runs) x
  GROUP BY run_id ORDER BY min(depth), run_id LIMIT $4
),
inputs AS (
  SELECT ri.run_id, ri.data_id, pi.path FROM traced t JOIN run r ON r.id = t.run_id
  JOIN run_input ri ON ri.run_id = t.run_id JOIN plan_input pi ON pi.plan_id = r.plan_id AND pi.idx = ri.idx
),
outputs AS (
  SELECT d.producer_run_id AS run_id, d.id AS data_id, d.producer_output AS output FROM traced t JOIN data d ON d.producer_run_id = t.run_id
),
touched AS (
  SELECT $1::uuid AS id UNION SELECT data_id FROM inputs UNION SELECT data_id FROM outputs
)
SELECT
  EXISTS (SELECT 1 FROM data WHERE id = $1) AS found,
  COALESCE((SELECT json_agg(json_build_object('id', r.id, 'plan_id', r.plan_id, 'image', p.image, 'status', r.status, 'exit_code', r.exit_code, 'depth', t.depth) ORDER BY t.depth, r.id)
    FROM traced t JOIN run r ON r.id = t.run_id JOIN plan p ON p.id = r.plan_id), '[]'::json) AS runs,
  COALESCE((SELECT json_agg(json_build_object('runId', run_id, 'dataId', data_id, 'path', path)) FROM inputs), '[]'::json) AS inputs,
  COALESCE((SELECT json_agg(json_build_object('runId', run_id, 'dataId', data_id, 'output', output) ORDER BY output) FROM outputs), '[]'::json) AS outputs,
  COALESCE((SELECT json_agg(json_build_object('id', d.id, 'created_at', d.created_at, 'transient', d.transient, 'producer_run_id', d.producer_run_id,
      'tags', (SELECT json_agg(json_build_array(g.key, g.value) ORDER BY g.key, g.value) FROM data_tag g WHERE g.data_id = d.id)))
    FROM touched x JOIN data d ON d.id = x.id), '[]'::json) AS data`;

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

  const dataById = new Map(traced.data.map((d) => [d.id, d]));
  const inputsOf = groupBy(traced.inputs, (i) => i.runId);
  const outputsOf = groupBy(traced.outputs, (o) => o.runId);
  const nodes = new Map<string, LineageNode>();
  const edges: LineageEdge[] = [];
  const addData = (id: string) => {
    const d = dataById.get(id);
    if (!d || nodes.has(id)) return;
    nodes.set(id, { kind: 'data', id, tags: tagsFromPairs(d.tags).map(formatTag), createdAt: new Date(d.created_at).toISOString(), transient: d.transient });
    if (d.producer_run_id === null) {
      const u = uploadRunId(id);
      nodes.set(u, { kind: 'run', id: u, planId: null, image: null, status: 'done', exitCode: null, upload: true });
      edges.push({ from: u, to: id, label: 'upload' });
    }
  };
  addData(dataId);
  let truncated = false;
  for (const run of traced.runs) {
    const ins = inputsOf.get(run.id) ?? [];
    const outs = outputsOf.get(run.id) ?? [];
    // The Data (and uploads) this run would add, counted before it is taken, so no run is half drawn.
    const fresh = new Set([...ins.map((i) => i.dataId), ...outs.map((o) => o.dataId)].filter((id) => !nodes.has(id)));
    const uploads = [...fresh].filter((id) => dataById.get(id)?.producer_run_id === null).length;
    if (nodes.size + 1 + fresh.size + uploads > maxNodes) {
      truncated = true;
      break;
    }
    nodes.set(run.id, { kind: 'run', id: run.id, planId: run.plan_id, image: run.image, status: run.status, exitCode: run.exit_code, upload: false });
    for (const i of ins) {
      addData(i.dataId);
      edges.push({ from: i.dataId, to: run.id, label: i.path });
    }
    for (const o of outs) {
      addData(o.dataId);
      edges.push({ from: run.id, to: o.dataId, label: o.output });
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
