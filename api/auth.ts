import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { KnitError } from '../core/errors/knit-error.js';

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
