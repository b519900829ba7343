import { join } from 'node:path';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.js';
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
export async function openDatabase(opts: { databaseUrl: string | undefined; knitHome: string; poolMax?: number; applicationName?: string }): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  let url = opts.databaseUrl;
  if (url === undefined) {
    embedded = await startEmbeddedPostgres({ dataDir: join(opts.knitHome, 'pgdata') });
    url = embedded.url;
  }
  const pool = openPool(url, { max: opts.poolMax ?? 10, applicationName: opts.applicationName ?? 'knit' });
  return {
    url,
    pool,
    embedded: embedded !== undefined,
    async close() {
      await pool.end();
      await embedded?.stop();
    },
  };
}
