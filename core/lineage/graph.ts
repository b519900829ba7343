import { z } from 'zod';
import type { Queryable } from '../db/pool.js';
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

export const Lineage = z.object({ root: z.string(), nodes: z.array(LineageNode), edges: z.array(LineageEdge) });
export type Lineage = z.infer<typeof Lineage>;

export type Depth = number | 'all';

export const uploadRunId = (dataId: string) => `upload-${dataId}`;

interface RunRow {
  id: string;
  plan_id: string;
  image: string;
  status: string;
  inputs: Array<{ dataId: string; path: string }>;
  outputs: Array<{ dataId: string; output: string }>;
}

/**
 * The lineage around one Data, computed level by level: `up` generations of producing runs and
 * their inputs, `down` generations of consuming runs and their outputs. A run in the graph
 * brings all its inputs and outputs, so each run reads complete.
 */
export async function traceLineage(q: Queryable, dataId: string, up: Depth, down: Depth): Promise<Lineage> {
  const nodes = new Map<string, LineageNode>();
  const edges = new Map<string, LineageEdge>();
  const data = new Set<string>();
  const runs = new Set<string>();
  const edge = (from: string, to: string, label: string) => edges.set(`${from}>${to}>${label}`, { from, to, label });

  const addRuns = async (ids: string[]): Promise<{ inputs: string[]; outputs: string[] }> => {
    const fresh = ids.filter((id) => !runs.has(id));
    if (fresh.length === 0) return { inputs: [], outputs: [] };
    const r = await q.query<RunRow>(
      `SELECT r.id, r.plan_id, p.image, r.status,
         COALESCE((SELECT json_agg(json_build_object('dataId', ri.data_id, 'path', pi.path) ORDER BY ri.idx)
           FROM run_input ri JOIN plan_input pi ON pi.plan_id = r.plan_id AND pi.idx = ri.idx WHERE ri.run_id = r.id), '[]'::json) AS inputs,
         COALESCE((SELECT json_agg(json_build_object('dataId', d.id, 'output', d.producer_output) ORDER BY d.producer_output)
           FROM data d WHERE d.producer_run_id = r.id), '[]'::json) AS outputs
       FROM run r JOIN plan p ON p.id = r.plan_id WHERE r.id = ANY($1::uuid[])`,
      [fresh],
    );
    const inputs: string[] = [];
    const outputs: string[] = [];
    for (const run of r.rows) {
      runs.add(run.id);
      nodes.set(run.id, { kind: 'run', id: run.id, planId: run.plan_id, image: run.image, status: run.status, upload: false });
      for (const i of run.inputs) {
        edge(i.dataId, run.id, i.path);
        inputs.push(i.dataId);
      }
      for (const o of run.outputs) {
        edge(run.id, o.dataId, o.output);
        outputs.push(o.dataId);
      }
    }
    return { inputs, outputs };
  };

  const addData = async (ids: string[]): Promise<void> => {
    const fresh = [...new Set(ids)].filter((id) => !data.has(id));
    if (fresh.length === 0) return;
    const r = await q.query<{ id: string; created_at: Date; transient: 'processing' | 'failed' | null; producer_run_id: string | null; tags: Array<[string, string]> | null }>(
      `SELECT d.id, d.created_at, d.transient, d.producer_run_id,
         (SELECT json_agg(json_build_array(t.key, t.value) ORDER BY t.key, t.value) FROM data_tag t WHERE t.data_id = d.id) AS tags
       FROM data d WHERE d.id = ANY($1::uuid[])`,
      [fresh],
    );
    for (const d of r.rows) {
      data.add(d.id);
      nodes.set(d.id, {
        kind: 'data',
        id: d.id,
        tags: tagsFromPairs(d.tags).map(formatTag),
        createdAt: d.created_at.toISOString(),
        transient: d.transient,
      });
      if (d.producer_run_id === null) {
        const u = uploadRunId(d.id);
        nodes.set(u, { kind: 'run', id: u, planId: null, image: null, status: 'done', upload: true });
        edge(u, d.id, 'upload');
      }
    }
  };

  await addData([dataId]);
  if (!data.has(dataId)) throw Object.assign(new Error(`data ${dataId} not found`), { notFound: true });

  const more = (depth: Depth, level: number) => depth === 'all' || level < depth;

  let frontier = [dataId];
  for (let level = 0; frontier.length > 0 && more(up, level); level++) {
    const producers = await q.query<{ producer_run_id: string }>('SELECT DISTINCT producer_run_id FROM data WHERE id = ANY($1::uuid[]) AND producer_run_id IS NOT NULL', [frontier]);
    const { inputs, outputs } = await addRuns(producers.rows.map((r) => r.producer_run_id));
    await addData([...inputs, ...outputs]);
    frontier = inputs;
  }

  frontier = [dataId];
  for (let level = 0; frontier.length > 0 && more(down, level); level++) {
    const consumers = await q.query<{ run_id: string }>(
      `SELECT DISTINCT ri.run_id FROM run_input ri JOIN run r ON r.id = ri.run_id WHERE ri.data_id = ANY($1::uuid[]) AND r.status <> 'invalidated'`,
      [frontier],
    );
    const { inputs, outputs } = await addRuns(consumers.rows.map((r) => r.run_id));
    await addData([...inputs, ...outputs]);
    frontier = outputs;
  }

  // Edges may point at nodes outside the traced depth (a run's other inputs are included; an
  // input's own producer is not): keep only edges between nodes in the graph.
  const kept = [...edges.values()].filter((e) => nodes.has(e.from) && nodes.has(e.to));
  return { root: dataId, nodes: [...nodes.values()], edges: kept };
}
