import { z } from 'zod';
import type { Queryable } from '../db/pool.js';
import { LIMITS } from '../limits/limits.js';
import { traceLineage, type Lineage } from './graph.js';

export const ImpactItem = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('run'),
    id: z.string(),
    planId: z.string().nullable(),
    image: z.string().nullable(),
    status: z.string(),
    /** Generations of runs between the Data and this run: 1 for a run reading it. */
    depth: z.number().int().positive(),
  }),
  z.object({
    kind: z.literal('data'),
    id: z.string(),
    tags: z.array(z.string()),
    /** `ready`, or the transient state (`processing`, `failed`) of an output still being made. */
    status: z.string(),
    /** The depth of the run that produced it. */
    depth: z.number().int().positive(),
  }),
]);
export type ImpactItem = z.infer<typeof ImpactItem>;

export const Impact = z.object({
  root: z.string(),
  runs: z.number().int(),
  data: z.number().int(),
  /** Runs and Data, nearest first. */
  items: z.array(ImpactItem),
  truncated: z.object({ maxNodes: z.number().int(), message: z.string() }).optional(),
});
export type Impact = z.infer<typeof Impact>;

/**
 * What would be stale if `lineage.root` were found wrong, from its downstream lineage: every run
 * in it (each reads the root or a Data made from it) and every Data those runs produced, logs
 * included. Inputs those runs also read from elsewhere are in the lineage but not stale, so Data
 * are taken only as run outputs. Depth is counted along the lineage's edges, breadth-first, so
 * each item has its nearest generation.
 */
export function impactOf(lineage: Lineage): Impact {
  const byId = new Map(lineage.nodes.map((n) => [n.id, n]));
  const out = new Map<string, typeof lineage.edges>();
  for (const e of lineage.edges) {
    const list = out.get(e.from);
    if (list) list.push(e);
    else out.set(e.from, [e]);
  }
  const items: ImpactItem[] = [];
  const seen = new Set<string>([lineage.root]);
  // Frontier of Data; each step reads them into runs (one generation) and takes the runs' outputs.
  let frontier = [lineage.root];
  for (let depth = 1; frontier.length > 0; depth++) {
    const next: string[] = [];
    const runs = frontier.flatMap((d) => (out.get(d) ?? []).map((e) => e.to)).filter((id) => !seen.has(id)).sort();
    for (const runId of runs) {
      const run = byId.get(runId);
      if (seen.has(runId) || run?.kind !== 'run' || run.upload) continue;
      seen.add(runId);
      items.push({ kind: 'run', id: run.id, planId: run.planId, image: run.image, status: run.status, depth });
      for (const e of [...(out.get(runId) ?? [])].sort((x, y) => x.label.localeCompare(y.label))) {
        const data = byId.get(e.to);
        if (seen.has(e.to) || data?.kind !== 'data') continue;
        seen.add(e.to);
        items.push({ kind: 'data', id: data.id, tags: data.tags, status: data.transient ?? 'ready', depth });
        next.push(data.id);
      }
    }
    frontier = next;
  }
  const impact: Impact = {
    root: lineage.root,
    runs: items.filter((i) => i.kind === 'run').length,
    data: items.filter((i) => i.kind === 'data').length,
    items,
  };
  if (lineage.truncated) {
    impact.truncated = {
      maxNodes: lineage.truncated.maxNodes,
      message: `more than ${lineage.truncated.maxNodes} nodes are downstream of ${lineage.root}; the nearest are listed, so more would be stale than shown. Raise the cap (max, up to KNIT_LINEAGE_MAX_NODES) to see them all`,
    };
  }
  return impact;
}

/**
 * The impact of a Data: its whole downstream lineage (traceLineage, the one owner of the
 * recursion), read only, cut at `maxNodes` as every lineage is.
 */
export async function traceImpact(q: Queryable, dataId: string, maxNodes: number = LIMITS.lineageNodes): Promise<Impact> {
  return impactOf(await traceLineage(q, dataId, 0, 'all', maxNodes));
}

/** The one-line summary, for stderr: `3 runs and 5 Data downstream of ID would be stale`. */
export function impactSummary(impact: Impact): string {
  const runs = `${impact.runs} run${impact.runs === 1 ? '' : 's'}`;
  return `${runs} and ${impact.data} Data downstream of ${impact.root} would be stale${impact.truncated ? ' (at least: the list was cut)' : ''}`;
}
