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
 * The token a request presents: `Bearer <token>`, or `Basic` credentials whose password is the
 * token (the user name is ignored). Knitfab's CLI has no token setting; the only way it sends one
 * is a profile URL with user info (`http://kf:TOKEN@host/knitfab/api`), which Go turns into Basic.
 */
function presentedToken(header: string): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(header);
  if (bearer) return bearer[1]!.trim();
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

/**
 * With a token configured, every request must carry it: `Authorization: Bearer <token>` (or Basic, above).
 * Compared in constant time over digests, so neither content nor length leaks.
 */
export function registerBearerAuth(app: FastifyInstance, token: string | undefined): void {
  if (token === undefined) return;
  const expected = digest(token);
  app.addHook('onRequest', async (req) => {
    if (!req.is404 && (req.routeOptions.config?.agentAuth === true || req.routeOptions.config?.open === true)) return;
    const given = presentedToken(req.headers.authorization ?? '');
    if (given === undefined) {
      throw new KnitError('unauthorized', 'missing bearer token: pass --token or set KNIT_TOKEN', { field: 'authorization' });
    }
    if (!timingSafeEqual(digest(given), expected)) {
      throw new KnitError('unauthorized', 'wrong bearer token: check --token or KNIT_TOKEN', { field: 'authorization' });
    }
  });
}
