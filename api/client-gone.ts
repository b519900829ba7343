import type { FastifyReply } from 'fastify';

/**
 * Aborts when the HTTP client disconnects before its answer was sent, so the expensive reads
 * (finds, dry runs) stop their queries instead of holding a connection for nobody.
 */
export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('the client closed the connection'));
  });
  return controller.signal;
}
