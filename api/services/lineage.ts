import type { Queryable } from '../../core/db/pool.js';
import { badRequest, notFound } from '../../core/errors/knit-error.js';
import { LIMITS } from '../../core/limits/limits.js';
import { diffProvenance, type ProvenanceDiff } from '../../core/lineage/diff.js';
import { traceLineage, type Depth, type Lineage } from '../../core/lineage/graph.js';
import { traceImpact, type Impact } from '../../core/lineage/impact.js';
import { loadProvenance } from '../../core/lineage/provenance.js';
import type { ApiDeps } from '../server.js';
import { resolveId } from './ids.js';

/** The node cap asked for (`max`), within the deployment's (KNIT_LINEAGE_MAX_NODES); 400 naming `max` above it. */
function nodeCap(deps: ApiDeps, max: number | undefined): number {
  const cap = deps.config.lineageMaxNodes ?? LIMITS.lineageNodes;
  if (max !== undefined && max > cap) throw badRequest('max', `at most ${cap} nodes (KNIT_LINEAGE_MAX_NODES), got ${max}`);
  return max ?? cap;
}

/** The traced lineage's "not found" as the API's 404. */
async function orNotFound<T>(id: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if ((err as { notFound?: boolean }).notFound) throw notFound('data', id);
    throw err;
  }
}

/** The lineage around a Data, `up` and `down` generations, at most `max` nodes. */
export function lineageOf(deps: ApiDeps, queries: Queryable, id: string, q: { up: Depth; down: Depth; max?: number | undefined }): Promise<Lineage> {
  return orNotFound(id, traceLineage(queries, id, q.up, q.down, nodeCap(deps, q.max)));
}

/** What would be stale if the Data were wrong; reads only. */
export function impactOf(deps: ApiDeps, queries: Queryable, id: string, q: { max?: number | undefined }): Promise<Impact> {
  return orNotFound(id, traceImpact(queries, id, nodeCap(deps, q.max)));
}

/** Why Data `a` and `b` differ, by provenance; ids may be unique prefixes, each refused naming its field. */
export async function diffOf(queries: Queryable, raw: { a: string; b: string }): Promise<ProvenanceDiff> {
  const a = await resolveId(queries, 'data', raw.a, 'a');
  const b = await resolveId(queries, 'data', raw.b, 'b');
  return diffProvenance((ids) => loadProvenance(queries, ids), a, b);
}
