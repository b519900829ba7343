import type { FastifyInstance } from 'fastify';
import { VERSION } from '../../core/version.js';
import type { ApiDeps } from '../server.js';

/** The longest the readiness check waits for the database: a probe must answer within its own timeout. */
const READY_DB_TIMEOUT_MS = 2000;

/**
 * Health, for people and for probes. `/api/health` is a route like the others (behind the
 * token). `/healthz` and `/readyz` are open, because a kubelet's probe cannot carry a secret, and
 * they say nothing but ok or not: `/healthz` that the process serves (liveness: a restart would
 * help), `/readyz` that it can also reach its database (readiness: send it requests).
 */
export function registerHealthRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/api/health', async () => ({ status: 'ok', version: VERSION, storage: deps.store.kind }));
  app.get('/healthz', { config: { open: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { open: true } }, async (_req, reply) => {
    const reachable = await databaseAnswers(deps, READY_DB_TIMEOUT_MS);
    return reply.code(reachable ? 200 : 503).send({ status: reachable ? 'ok' : 'database unreachable' });
  });
}

async function databaseAnswers(deps: ApiDeps, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([deps.pool.query('SELECT 1').then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
