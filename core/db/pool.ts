import pg from 'pg';
import { isConnectionError } from './connection-errors.js';
import { countRoundTrip, statementVerb } from '../metrics/round-trips.js';

export type Pool = pg.Pool;
export type Tx = pg.PoolClient;
/** Anything that can run a query: the pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

const INT8 = 20;
// Sizes and sequence numbers fit well inside 2^53; numbers are what the rest of the code wants.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8 && format !== 'binary') return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/**
 * `statementTimeoutMs` bounds every statement of the pool's sessions on the server (0: none);
 * one that runs longer fails with 57014 (query_canceled).
 */
export function openPool(databaseUrl: string, opts: { max?: number; applicationName?: string; statementTimeoutMs?: number } = {}): Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {}),
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'knit',
    types: types as pg.CustomTypesConfig,
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  // pg-pool listens for a client's 'error' only while the client is idle; one that loses its
  // connection while checked out (a backend terminated, the server restarting) emits an 'error'
  // nobody hears, which kills the process. Every client the pool makes gets a listener for its
  // whole life instead: the query in flight fails with the error, and the client is marked so
  // that its release destroys it rather than returning it to the pool.
  pool.on('connect', (client) => {
    client.on('error', () => {
      lostConnection.add(client);
    });
    countStatements(client);
  });
  return pool;
}

/** Every statement a pool's client sends is counted (core/metrics/round-trips.ts); pool.query goes through it too. */
function countStatements(client: pg.PoolClient): void {
  const send = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const q = args[0];
    countRoundTrip('database', statementVerb(typeof q === 'string' ? q : ((q as { text?: string } | undefined)?.text ?? '')));
    return send(...args);
  };
}

/** Clients whose connection failed: released as broken, never reused. */
const lostConnection = new WeakSet<pg.PoolClient>();

/**
 * Runs `fn` with a client of its own (for a transaction, a session-level lock). Every checkout
 * goes through here, so that a client whose connection failed is destroyed on release.
 */
export async function withClient<T>(pool: Pool, fn: (client: Tx) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let failure: unknown;
  try {
    return await fn(client);
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    const broken = lostConnection.has(client) || (failure !== undefined && isConnectionError(failure));
    client.release(broken);
  }
}

const SERIALIZATION_FAILURE = '40001';
const DEADLOCK = '40P01';

/**
 * Runs `fn` in one transaction. Serialization failures and deadlocks are retried, because they
 * are the database telling us to try again, not a bug.
 */
export async function withTx<T>(pool: Pool, fn: (tx: Tx) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withClient(pool, async (client) => {
        await client.query('BEGIN');
        try {
          const result = await fn(client);
          await client.query('COMMIT');
          return result;
        } catch (err) {
          // A ROLLBACK that fails leaves the session in an unknown state: never reuse it.
          await client.query('ROLLBACK').catch(() => lostConnection.add(client));
          throw err;
        }
      });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (attempt < attempts && (code === SERIALIZATION_FAILURE || code === DEADLOCK)) continue;
      throw err;
    }
  }
}

export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string }).code === '23505';
}
