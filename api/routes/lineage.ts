import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { notFound } from '../../core/errors/knit-error.js';
import { traceLineage } from '../../core/lineage/graph.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import { depthParam as depth } from '../../core/validation/query.js';
import { idParam } from '../ids.js';
import type { ApiDeps } from '../server.js';

const LineageQuery = z.object({ up: depth, down: depth }).strict();

export function registerLineageRoutes(app: FastifyInstance, deps: ApiDeps): void {
  /** Nodes (Data, Runs; uploads as root runs) and edges (mount path, log or upload) around a Data. */
  app.get('/api/lineage/data/:id', { config: { takesQuery: true } }, async (req) => {
    const id = idParam(req.params, 'Data');
    const q = parseOrThrow(LineageQuery, req.query);
    try {
      return await traceLineage(deps.pool, id, q.up, q.down);
    } catch (err) {
      if ((err as { notFound?: boolean }).notFound) throw notFound('data', id);
      throw err;
    }
  });
}
