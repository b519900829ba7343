import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../core/db/embedded.js';
import { migrate } from '../../core/db/migrate.js';
import { openPool, type Pool } from '../../core/db/pool.js';

export interface TestDatabase {
  readonly url: string;
  readonly pool: Pool;
  readonly kind: 'postgres' | 'pglite';
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database for one test file. With DATABASE_URL set (CI) it is a new database
 * on that PostgreSQL server; with KNIT_TEST_DB=pglite, or no DATABASE_URL, an in-memory PGlite.
 * `serverUrl` names another server (a test's private one) and always means a real PostgreSQL.
 */
export async function createTestDatabase(opts: { serverUrl?: string } = {}): Promise<TestDatabase> {
  const serverUrl = opts.serverUrl ?? (process.env['KNIT_TEST_DB'] === 'pglite' ? undefined : process.env['DATABASE_URL']);
  if (!serverUrl) {
    const embedded = await startEmbeddedPostgres();
    const pool = openPool(embedded.url, { max: 4 });
    await migrate(pool);
    return {
      url: embedded.url,
      pool,
      kind: 'pglite',
      async drop() {
        await pool.end();
        await embedded.stop();
      },
    };
  }
  const name = `knit_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const pool = openPool(url.toString(), { max: 10 });
  await migrate(pool);
  return {
    url: url.toString(),
    pool,
    kind: 'postgres',
    async drop() {
      await pool.end();
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
