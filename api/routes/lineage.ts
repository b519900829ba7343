import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { abortableQueries } from '../../core/db/abortable.js';
import { badRequest, notFound } from '../../core/errors/knit-error.js';
import { LIMITS } from '../../core/limits/limits.js';
import { clientGone } from '../client-gone.js';
import { traceLineage } from '../../core/lineage/graph.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import { depthParam as depth } from '../../core/validation/query.js';
import type { ApiDeps } from '../server.js';
import { resolveIdParam } from '../services/ids.js';

const LineageQuery = z.object({ up: depth, down: depth, max: z.coerce.number().int().positive().optional() }).strict();

export function registerLineageRoutes(app: FastifyInstance, deps: ApiDeps): void {
  /** Nodes (Data, Runs; uploads as root runs) and edges (mount path, log or upload) around a Data. */
  app.get('/api/lineage/data/:id', { config: { takesQuery: true } }, async (req, reply) => {
    const id = await resolveIdParam(deps.pool, 'data', req.params);
    const q = parseOrThrow(LineageQuery, req.query);
    const cap = deps.config.lineageMaxNodes ?? LIMITS.lineageNodes;
    if (q.max !== undefined && q.max > cap) throw badRequest('max', `at most ${cap} nodes (KNIT_LINEAGE_MAX_NODES), got ${q.max}`);
    try {
      return await traceLineage(abortableQueries(deps.pool, clientGone(reply)), id, q.up, q.down, q.max ?? cap);
    } catch (err) {
      if ((err as { notFound?: boolean }).notFound) throw notFound('data', id);
      throw err;
    }
  });
}
