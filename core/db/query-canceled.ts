import { KnitError } from '../errors/knit-error.js';

/** PostgreSQL's query_canceled: a statement timeout fired, or the statement was cancelled. */
export const QUERY_CANCELED = '57014';

/**
 * A statement the database cancelled, as the API answers it: 503, saying why and what to do,
 * instead of a 500. (When the cancel was ours because the client left, nobody reads it.)
 */
export function canceledQueryError(err: unknown): KnitError | undefined {
  if ((err as { code?: unknown } | null)?.code !== QUERY_CANCELED) return undefined;
  return new KnitError(
    'unavailable',
    'the database cancelled this request\'s query: it ran longer than the statement timeout (KNIT_STATEMENT_TIMEOUT); narrow it (more tags, a time window) or try again later',
    { cause: err },
  );
}
