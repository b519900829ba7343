import { connect } from 'node:net';
import type pg from 'pg';
import { QUERY_CANCELED } from './query-canceled.js';
import type { Pool, Queryable } from './pool.js';

const CANCEL_REQUEST_CODE = 80877102;

/** What pg.Client knows of its backend once connected (set from BackendKeyData). */
interface BackendKey {
  host: string;
  port: number;
  processID: number | null;
  secretKey: number | null;
}

/**
 * Asks the server to cancel whatever `key`'s backend is running, with the protocol's own
 * CancelRequest on a connection of its own: it needs no pool slot (the pool may be what is
 * exhausted) and no login. Best effort: a server that ignores it (the embedded PGlite serves one
 * statement at a time and cannot interrupt it) leaves the statement to its statement timeout.
 */
function sendCancel(key: BackendKey): void {
  if (key.processID === null || key.secretKey === null) return;
  const msg = Buffer.alloc(16);
  msg.writeInt32BE(16, 0);
  msg.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  msg.writeInt32BE(key.processID, 8);
  msg.writeInt32BE(key.secretKey, 12);
  const socket = key.host.startsWith('/') ? connect(`${key.host}/.s.PGSQL.${key.port}`) : connect(key.port, key.host);
  socket.once('connect', () => socket.end(msg));
  socket.once('error', () => socket.destroy());
  socket.setTimeout(5000, () => socket.destroy());
}

/** The error a query aborted by `signal` rejects with; 57014 like a cancelled statement. */
export class QueryAborted extends Error {
  readonly code = QUERY_CANCELED;
  constructor(reason: unknown) {
    super(`query abandoned: ${reason instanceof Error ? reason.message : String(reason ?? 'aborted')}`);
    this.name = 'QueryAborted';
  }
}

/**
 * Queries on `pool` that are cancelled on the server as soon as `signal` aborts (the HTTP client
 * went away), instead of running on for nobody. The connection of a cancelled query is closed
 * rather than returned to the pool: a cancel that arrives late must not hit the next user's query.
 */
export function abortableQueries(pool: Pool, signal: AbortSignal): Queryable {
  const query = async (text: string, values?: unknown[]) => {
    if (signal.aborted) throw new QueryAborted(signal.reason);
    const client = await pool.connect();
    if (signal.aborted) {
      client.release();
      throw new QueryAborted(signal.reason);
    }
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      sendCancel(client as unknown as BackendKey);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await client.query(text, values);
    } catch (err) {
      throw aborted ? new QueryAborted(signal.reason) : err;
    } finally {
      signal.removeEventListener('abort', onAbort);
      client.release(aborted);
    }
  };
  return { query } as unknown as Pick<pg.Pool, 'query'>;
}
