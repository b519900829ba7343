import type { FastifyError, FastifyInstance } from 'fastify';
import { KnitError } from '../core/errors/knit-error.js';
import { DigestMismatchError } from '../core/storage/digest.js';

/** Maps every failure to `{error: {code, message, field?}}` with the matching status. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => {
    const err = new KnitError('not_found', `no such route: ${req.method} ${req.url.split('?')[0]}`);
    void reply.code(404).send(err.toBody());
  });

  app.setErrorHandler((error: FastifyError | KnitError | Error, req, reply) => {
    const err = toKnitError(error);
    if (err.code === 'internal') req.log.error({ err: error }, 'request failed');
    else req.log.info({ code: err.code, field: err.field, msg: err.message }, 'request rejected');
    if (err.code === 'payload_too_large' || err.code === 'unauthorized') {
      // The rest of the body is not read; closing keeps the connection from reading it as a next request.
      void reply.header('connection', 'close');
    }
    // A failed download may already have set archive headers; the error body is JSON.
    reply.removeHeader('content-length');
    reply.removeHeader('x-knit-digest');
    reply.removeHeader('content-disposition');
    void reply.code(err.status).type('application/json; charset=utf-8').send(err.toBody());
  });
}

function toKnitError(error: unknown): KnitError {
  if (error instanceof KnitError) return error;
  if (error instanceof DigestMismatchError) {
    return new KnitError('internal', `stored content failed its digest check and was not served: ${error.message}`, { cause: error });
  }
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
  if (e.name === 'SyntaxError' || e.statusCode === 400) {
    return new KnitError('bad_request', `body: ${e.message}`, { field: 'body' });
  }
  return new KnitError('internal', 'internal server error; see the server log', { cause: error });
}
