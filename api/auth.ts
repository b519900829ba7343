import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { KnitError } from '../core/errors/knit-error.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route checks a run-scoped agent token itself (api/routes/agent.ts) instead of
     * KNIT_TOKEN: a Pod's agent holds no user token, and its token opens nothing else.
     */
    agentAuth?: boolean;
    /** Open to anyone: the probes (api/routes/health.ts), which reveal nothing but ok or not. */
    open?: boolean;
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * With a token configured, every request must carry `Authorization: Bearer <token>`.
 * Compared in constant time over digests, so neither content nor length leaks.
 */
export function registerBearerAuth(app: FastifyInstance, token: string | undefined): void {
  if (token === undefined) return;
  const expected = digest(token);
  app.addHook('onRequest', async (req) => {
    if (!req.is404 && (req.routeOptions.config?.agentAuth === true || req.routeOptions.config?.open === true)) return;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m) {
      throw new KnitError('unauthorized', 'missing bearer token: pass --token or set KNIT_TOKEN', { field: 'authorization' });
    }
    if (!timingSafeEqual(digest(m[1]!.trim()), expected)) {
      throw new KnitError('unauthorized', 'wrong bearer token: check --token or KNIT_TOKEN', { field: 'authorization' });
    }
  });
}
