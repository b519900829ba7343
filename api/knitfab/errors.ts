import type { FastifyInstance } from 'fastify';
import type { KnitError } from '../../core/errors/knit-error.js';
import { registerErrorHandling } from '../errors.js';

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

/**
 * Errors under the Knitfab prefix answer in Knitfab's shape, through knit's one error mechanism;
 * an unknown route says `Not Found`, word for word as Knitfab's knitd does.
 */
export function registerKnitfabErrors(app: FastifyInstance): void {
  registerErrorHandling(app, {
    body: knitfabErrorBody,
    contentType: 'application/json',
    notFound: (method, path) => ({ message: 'Not Found', reason: 'not found', advice: `no such route: ${method} ${path}` }),
  });
}
