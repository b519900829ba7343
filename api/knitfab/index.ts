import type { FastifyInstance } from 'fastify';
import type { LiveLogHub } from '../../core/run/live-log-hub.js';
import type { ApiDeps } from '../server.js';
import { registerKnitfabDataRoutes } from './data.js';
import { registerKnitfabErrors } from './errors.js';
import { registerKnitfabPlanRoutes } from './plans.js';
import { registerKnitfabRunRoutes } from './runs.js';

/**
 * Where Knitfab v1.6.1's REST API is served (docs/knitfab-compat.md). A prefix of its own,
 * because the two APIs give the same paths other meanings (`GET /api/data/{id}` is JSON in knit
 * and an archive in Knitfab); Knitfab's CLI takes any base URL (`apiRoot` in its profile).
 */
export const KNITFAB_PREFIX = '/knitfab/api';

export async function registerKnitfabApi(app: FastifyInstance, deps: ApiDeps, liveLogs: LiveLogHub): Promise<void> {
  await app.register(
    async (kf) => {
      registerKnitfabErrors(kf);
      registerKnitfabDataRoutes(kf, deps);
      registerKnitfabPlanRoutes(kf, deps);
      registerKnitfabRunRoutes(kf, deps, liveLogs);
    },
    { prefix: KNITFAB_PREFIX },
  );
}
