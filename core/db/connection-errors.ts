/**
 * Whether an error means the database could not be reached or dropped the connection, rather
 * than that a statement was wrong: such a failure is worth retrying once the database is back.
 */
export function isConnectionError(err: unknown): boolean {
  // A wrapped error (`cause`) or a failed connect to several addresses (AggregateError) counts
  // when any error inside it does.
  const seen = new Set<unknown>();
  const stack: unknown[] = [err];
  while (stack.length > 0) {
    const e = stack.pop();
    if (e === null || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    const { code, message, cause, errors } = e as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string' && (SOCKET_CODES.has(code) || SQLSTATES.has(code) || code.startsWith(CONNECTION_EXCEPTION_CLASS))) return true;
    if (typeof message === 'string' && DRIVER_MESSAGES.some((m) => message.startsWith(m))) return true;
    stack.push(cause);
    if (Array.isArray(errors)) stack.push(...errors);
  }
  return false;
}

/** Node's socket errors when the server is not there or the connection broke. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** PostgreSQL's operator-intervention codes: admin_shutdown, crash_shutdown, cannot_connect_now. */
const SQLSTATES = new Set(['57P01', '57P02', '57P03']);

/** SQLSTATE class 08: connection exception. */
const CONNECTION_EXCEPTION_CLASS = '08';

/** node-postgres reports a lost or timed-out connection with a plain Error and one of these messages. */
const DRIVER_MESSAGES = ['Connection terminated', 'Client has encountered a connection error and is not queryable', 'timeout exceeded when trying to connect'];
