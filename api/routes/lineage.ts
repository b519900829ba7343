import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { notFound } from '../../core/errors/knit-error.js';
import { traceLineage } from '../../core/lineage/graph.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import type { ApiDeps } from '../server.js';
import { resolveId } from '../services/ids.js';

const depth = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined) return 0;
    if (v === 'all') return 'all' as const;
    if (!/^\d+$/.test(v)) {
      ctx.addIssue({ code: 'custom', message: `must be a number of generations or "all", got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return Number(v);
  });

const LineageQuery = z.object({ up: depth, down: depth }).strict();

export function registerLineageRoutes(app: FastifyInstance, deps: ApiDeps): void {
  /** Nodes (Data, Runs; uploads as root runs) and edges (mount path, log or upload) around a Data. */
  app.get('/api/lineage/data/:id', { config: { takesQuery: true } }, async (req) => {
    const id = await resolveId(deps.pool, 'data', (req.params as { id?: string }).id);
    const q = parseOrThrow(LineageQuery, req.query);
    try {
      return await traceLineage(deps.pool, id, q.up, q.down);
    } catch (err) {
      if ((err as { notFound?: boolean }).notFound) throw notFound('data', id);
      throw err;
    }
  });
}
