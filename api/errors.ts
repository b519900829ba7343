import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { canceledQueryError } from '../core/db/query-canceled.js';
import { isConnectionError } from '../core/db/connection-errors.js';
import { KnitError } from '../core/errors/knit-error.js';

/** How an API writes its errors: knit's `{error: {code, message, field?}}`, or another API's shape. */
export interface ErrorShape {
  body(err: KnitError): unknown;
  contentType: string;
  /** The answer to an unknown route, when the API words it its own way. */
  notFound?(method: string, path: string): unknown;
}

const KNIT_ERRORS: ErrorShape = { body: (err) => err.toBody(), contentType: 'application/json; charset=utf-8' };

/** Maps every failure to an error body in `shape` (knit's by default) with the matching status. */
export function registerErrorHandling(app: FastifyInstance, shape: ErrorShape = KNIT_ERRORS): void {
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const body = shape.notFound ? shape.notFound(req.method, path) : shape.body(new KnitError('not_found', `no such route: ${req.method} ${path}`));
    void reply.code(404).type(shape.contentType).send(body);
  });

  app.setErrorHandler((error: FastifyError | KnitError | Error, req, reply) => {
    const err = toKnitError(error);
    if (err.code === 'internal') req.log.error({ err: error }, 'request failed');
    else if (err.code === 'unavailable') req.log.warn({ err: error }, 'request failed: database unreachable');
    else req.log.info({ code: err.code, field: err.field, msg: err.message }, 'request rejected');
    if (!req.raw.complete) discardRestOfBody(req.raw);
    // A failed download may already have set archive headers (and a trailer); the error body is JSON.
    for (const h of ['content-length', 'x-knit-digest', 'content-disposition', 'trailer']) reply.removeHeader(h);
    void reply.code(err.status).type(shape.contentType).send(shape.body(err));
  });
}

/** Fastify's own answers from routing (too long a parameter, a bad URL): knit's error JSON too. */
export function frameworkError(error: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const err = frameworkKnitError(error);
  req.log.info({ code: err.code, field: err.field, msg: err.message }, 'request rejected');
  void reply.code(err.status).type('application/json; charset=utf-8').send(err.toBody());
}

function frameworkKnitError(error: FastifyError): KnitError {
  switch (error.code) {
    case 'FST_ERR_MAX_PARAM_LENGTH':
      // Every route parameter is an id, a UUID of 36 characters.
      return new KnitError('uri_too_long', `id: is longer than ${MAX_PARAM_LENGTH} characters; ids are UUIDs`, { field: 'id' });
    case 'FST_ERR_BAD_URL':
      return new KnitError('bad_request', 'url: is not a valid URL (a bad percent-encoding?)', { field: 'url' });
  }
  return toKnitError(error);
}

/** Fastify's default for route parameters, named here because the 414 message states it. */
export const MAX_PARAM_LENGTH = 100;

/**
 * Errors Node's HTTP parser raises before there is a request (headers or URL over Node's header
 * limit, a malformed request line). Answered on the raw socket, in knit's error JSON.
 */
export function clientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let status: number;
  let knit: KnitError;
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    knit = new KnitError('headers_too_large', 'headers: the URL and headers together are too large; send long lists (tags, ids) in fewer, shorter requests', { field: 'headers' });
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    knit = new KnitError('bad_request', 'request: the request was not received in time', { field: 'request' });
  } else {
    status = 400;
    knit = new KnitError('bad_request', 'request: malformed HTTP request', { field: 'request' });
  }
  const body = JSON.stringify(knit.toBody());
  const reason = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
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
