import { join } from 'node:path';
import { databaseAt } from './embedded.js';
import { openPool, type Pool } from './pool.js';

export interface Database {
  readonly url: string;
  readonly pool: Pool;
  /** True when this process started an embedded PGlite for itself. */
  readonly embedded: boolean;
  close(): Promise<void>;
}

/**
 * Connects to `DATABASE_URL`, or, when it is unset, starts the embedded PGlite under
 * `KNIT_HOME/pgdata`. Only one process may own an embedded database; `knit up` starts it once
 * and hands its URL to the API and the worker.
 */
export async function openDatabase(opts: { databaseUrl: string | undefined; knitHome: string; poolMax?: number; applicationName?: string; statementTimeoutMs?: number }): Promise<Database> {
  const db = await databaseAt(opts.databaseUrl, join(opts.knitHome, 'pgdata'));
  const pool = openPool(db.url, { max: opts.poolMax ?? 10, applicationName: opts.applicationName ?? 'knit', statementTimeoutMs: opts.statementTimeoutMs ?? 0 });
  return {
    url: db.url,
    pool,
    embedded: db.embedded,
    async close() {
      await pool.end();
      await db.stop();
    },
  };
}
