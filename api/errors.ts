import type { FastifyError, FastifyInstance } from 'fastify';
import { canceledQueryError } from '../core/db/query-canceled.js';
import { isConnectionError } from '../core/db/connection-errors.js';
import { KnitError } from '../core/errors/knit-error.js';

/** Maps every failure to `{error: {code, message, field?}}` with the matching status. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => {
    const err = new KnitError('not_found', `no such route: ${req.method} ${req.url.split('?')[0]}`);
    void reply.code(404).send(err.toBody());
  });

  app.setErrorHandler((error: FastifyError | KnitError | Error, req, reply) => {
    const err = toKnitError(error);
    if (err.code === 'internal') req.log.error({ err: error }, 'request failed');
    else if (err.code === 'unavailable') req.log.warn({ err: error }, 'request failed: database unreachable');
    else req.log.info({ code: err.code, field: err.field, msg: err.message }, 'request rejected');
    if (!req.raw.complete) discardRestOfBody(req.raw);
    // A failed download may already have set archive headers; the error body is JSON.
    reply.removeHeader('content-length');
    reply.removeHeader('x-knit-digest');
    reply.removeHeader('content-disposition');
    void reply.code(err.status).type('application/json; charset=utf-8').send(err.toBody());
  });
}

/** How long a client may keep sending a body we have already answered before we hang up. */
const DISCARD_GRACE_MS = 10_000;

/**
 * Answering before the body is read (401, 413, a bad archive) must not reset the connection, or
 * the client gets a broken pipe instead of our answer. Node discards the rest of the body after
 * the response; a client that keeps sending long after is cut off.
 */
function discardRestOfBody(raw: import('node:http').IncomingMessage): void {
  raw.resume();
  const timer = setTimeout(() => raw.socket?.destroy(), DISCARD_GRACE_MS);
  timer.unref();
  raw.once('end', () => clearTimeout(timer));
  raw.once('close', () => clearTimeout(timer));
}

function toKnitError(error: unknown): KnitError {
  if (error instanceof KnitError) return error;
  const e = error as FastifyError;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new KnitError('payload_too_large', 'body: request body is too large', { field: 'body' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new KnitError('bad_request', `content-type: unsupported media type ${JSON.stringify(String(e.message).split(': ').pop())}`, { field: 'content-type' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new KnitError('bad_request', `body: ${e.message}`, { field: 'body' });
  }
  const canceled = canceledQueryError(error);
  if (canceled) return canceled;
  if (e.name === 'SyntaxError' || e.statusCode === 400) {
    return new KnitError('bad_request', `body: ${e.message}`, { field: 'body' });
  }
  if (isConnectionError(error)) return new KnitError('unavailable', 'the database is unreachable; retry shortly', { cause: error });
  return new KnitError('internal', 'internal server error; see the server log', { cause: error });
}
