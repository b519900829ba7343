import pg from 'pg';

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
  return pool;
}

const SERIALIZATION_FAILURE = '40001';
const DEADLOCK = '40P01';

/**
 * Runs `fn` in one transaction. Serialization failures and deadlocks are retried, because they
 * are the database telling us to try again, not a bug.
 */
export async function withTx<T>(pool: Pool, fn: (tx: Tx) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      const code = (err as { code?: string }).code;
      if (attempt < attempts && (code === SERIALIZATION_FAILURE || code === DEADLOCK)) continue;
      throw err;
    } finally {
      client.release(broken);
    }
  }
}

export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string }).code === '23505';
}
