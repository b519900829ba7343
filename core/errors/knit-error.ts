import { z } from 'zod';

/**
 * Every failure that crosses a process boundary (HTTP, CLI exit) is a KnitError, so that the
 * API can map it to a status and the CLI can print a message that says what to do next.
 */
export const ErrorCode = z.enum([
  'bad_request',
  'unauthorized',
  'not_found',
  'conflict',
  'forbidden',
  'payload_too_large',
  'unprocessable',
  'uri_too_long',
  'headers_too_large',
  'unavailable',
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

const statusOf: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  not_found: 404,
  forbidden: 403,
  conflict: 409,
  payload_too_large: 413,
  unprocessable: 422,
  uri_too_long: 414,
  headers_too_large: 431,
  unavailable: 503,
  internal: 500,
};

/** The JSON error body of every non-2xx API response. */
export const ErrorBody = z.object({
  error: z.object({
    code: ErrorCode,
    message: z.string(),
    field: z.string().optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export class KnitError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { field?: string; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KnitError';
    this.code = code;
    this.field = opts.field;
    this.details = opts.details;
  }

  get status(): number {
    return statusOf[this.code];
  }

  toBody(): ErrorBody {
    const error: ErrorBody['error'] = { code: this.code, message: this.message };
    if (this.field !== undefined) error.field = this.field;
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }

  static fromBody(status: number, body: ErrorBody): KnitError {
    const err = new KnitError(body.error.code, body.error.message, {
      ...(body.error.field !== undefined ? { field: body.error.field } : {}),
      ...(body.error.details !== undefined ? { details: body.error.details } : {}),
    });
    err.httpStatus = status;
    return err;
  }

  /** Set when the error was decoded from an HTTP response. */
  httpStatus: number | undefined;
}

export function badRequest(field: string, message: string): KnitError {
  return new KnitError('bad_request', `${field}: ${message}`, { field });
}

export function notFound(what: string, id: string, field = 'id'): KnitError {
  return new KnitError('not_found', `${what} ${id} not found`, { field });
}

export function conflict(message: string, details?: Record<string, unknown>): KnitError {
  return new KnitError('conflict', message, details === undefined ? {} : { details });
}

export function isKnitError(e: unknown): e is KnitError {
  return e instanceof KnitError;
}
