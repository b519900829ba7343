import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { abortableQueries } from '../../core/db/abortable.js';
import { clientGone } from '../client-gone.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import { depthParam as depth } from '../../core/validation/query.js';
import type { ApiDeps } from '../server.js';
import { resolveIdParam } from '../services/ids.js';
import { diffOf, impactOf, lineageOf } from '../services/lineage.js';
import { planGraph } from '../services/plans.js';

const max = z.coerce.number().int().positive().optional();
const LineageQuery = z.object({ up: depth, down: depth, max }).strict();
const PlanLineageQuery = z.object({ up: depth, down: depth }).strict();
const ImpactQuery = z.object({ max }).strict();
const dataId = z.string({ error: 'a Data id is needed (a UUID or a unique prefix)' }).min(1, 'a Data id is needed (a UUID or a unique prefix)');
const DiffQuery = z.object({ a: dataId, b: dataId }).strict();

export function registerLineageRoutes(app: FastifyInstance, deps: ApiDeps): void {
  /** Nodes (Data, Runs; uploads as root runs) and edges (mount path, log or upload) around a Data. */
  app.get('/api/lineage/data/:id', { config: { takesQuery: true } }, async (req, reply) => {
    const id = await resolveIdParam(deps.pool, 'data', req.params);
    const q = parseOrThrow(LineageQuery, req.query);
    return lineageOf(deps, abortableQueries(deps.pool, clientGone(reply)), id, q);
  });

  /**
   * The plan graph around a plan: the plans `up` generations upstream of it and `down` downstream
   * (numbers or "all"), linked where one plan's output tags satisfy another's input.
   */
  app.get('/api/lineage/plans/:id', { config: { takesQuery: true } }, async (req) => {
    const plan = await resolveIdParam(deps.pool, 'plan', req.params);
    const { up, down } = parseOrThrow(PlanLineageQuery, req.query);
    return planGraph(deps.pool, { plan, up, down });
  });

  /** Every run and Data downstream of a Data: what would be stale were it wrong. Changes nothing. */
  app.get('/api/lineage/data/:id/impact', { config: { takesQuery: true } }, async (req, reply) => {
    const id = await resolveIdParam(deps.pool, 'data', req.params);
    const q = parseOrThrow(ImpactQuery, req.query);
    return impactOf(deps, abortableQueries(deps.pool, clientGone(reply)), id, q);
  });

  /** Why two Data differ, by how they were made. */
  app.get('/api/lineage/diff', { config: { takesQuery: true } }, async (req, reply) => {
    const q = parseOrThrow(DiffQuery, req.query);
    return diffOf(abortableQueries(deps.pool, clientGone(reply)), q);
  });
}
