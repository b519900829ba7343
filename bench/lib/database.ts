import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../core/db/embedded.js';
import { migrate } from '../../core/db/migrate.js';
import { openPool, type Pool } from '../../core/db/pool.js';

export interface BenchDatabase {
  readonly pool: Pool;
  /** For processes of the bench's own (knitd, the worker) to connect to. */
  readonly url: string;
  readonly kind: 'PostgreSQL' | 'embedded PGlite';
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database of the bench's own: a new database on the server in DATABASE_URL
 * (dropped at the end, so the shared server keeps nothing), else an in-memory PGlite.
 */
export async function freshDatabase(): Promise<BenchDatabase> {
  const serverUrl = process.env['DATABASE_URL'];
  if (!serverUrl) {
    const embedded = await startEmbeddedPostgres();
    const pool = openPool(embedded.url, { max: 2 });
    await migrate(pool);
    return { pool, url: embedded.url, kind: 'embedded PGlite', drop: async () => (await pool.end(), await embedded.stop()) };
  }
  const name = `knit_bench_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const pool = openPool(url.toString(), { max: 2 });
  await migrate(pool);
  return {
    pool,
    url: url.toString(),
    kind: 'PostgreSQL',
    async drop() {
      await pool.end();
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
