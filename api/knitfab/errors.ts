import type { FastifyError, FastifyInstance } from 'fastify';
import type { KnitError } from '../../core/errors/knit-error.js';
import { discardRestOfBody, toKnitError } from '../errors.js';

/** The reason words Knitfab's knitd puts first in its error message, by knit's error code. */
const REASON: Partial<Record<KnitError['code'], string>> = {
  not_found: 'not found',
  bad_request: 'bad request',
  conflict: 'conflict',
  unauthorized: 'unauthorized',
  unavailable: 'service unavailable',
  internal: 'unexpected error',
};

/**
 * Knitfab's error body, `{"message": "<reason>\n<advice>"}`, which its CLI prints, with the
 * reason and advice also as fields (its CLI accepts both forms). The advice is knit's own
 * message, which names the field.
 */
export function knitfabErrorBody(err: KnitError): { message: string; reason: string; advice: string } {
  const reason = REASON[err.code] ?? err.code.replace(/_/g, ' ');
  return { message: `${reason}\n${err.message}`, reason, advice: err.message };
}

/** Errors and unknown routes under the Knitfab prefix answer in Knitfab's shape. */
export function registerKnitfabErrors(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ message: 'Not Found', reason: 'not found', advice: `no such route: ${req.method} ${req.url.split('?')[0]}` });
  });
  app.setErrorHandler((error: FastifyError | KnitError | Error, req, reply) => {
    const err = toKnitError(error);
    if (err.code === 'internal') req.log.error({ err: error }, 'request failed');
    else req.log.info({ code: err.code, field: err.field, msg: err.message }, 'request rejected');
    if (!req.raw.complete) discardRestOfBody(req.raw);
    reply.removeHeader('content-length');
    reply.removeHeader('trailer');
    void reply.code(err.status).type('application/json').send(knitfabErrorBody(err));
  });
}
