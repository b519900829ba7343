import type { Pool } from './pool.js';
import { withClient, withTx } from './pool.js';
import { migrations } from './migrations/index.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

// Any constant works; it only has to be the same in every replica.
const MIGRATION_LOCK = 7_420_001;

export interface MigrationResult {
  applied: Array<{ version: number; name: string }>;
  current: number;
}

/**
 * Applies pending migrations in order, each in its own transaction. An advisory lock makes
 * concurrent starts (several API replicas) safe: one applies, the others wait and find nothing to do.
 */
export async function migrate(pool: Pool, all: readonly Migration[] = migrations): Promise<MigrationResult> {
  return withClient(pool, async (client) => {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
      const applied: MigrationResult['applied'] = [];
      for (const m of [...all].sort((a, b) => a.version - b.version)) {
        if (done.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
        }
        applied.push({ version: m.version, name: m.name });
      }
      const current = Math.max(0, ...all.map((m) => m.version));
      return { applied, current };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    }
  });
}

export { withTx };
