import test from 'ava';
import { migrate } from '../../core/db/migrate.js';
import { migrations } from '../../core/db/migrations/index.js';
import { openPool } from '../../core/db/pool.js';
import { createTestDatabase } from '../helpers/db.js';

test('migrating again is a no-op, and concurrent migrators apply each migration once', async (t) => {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const again = await migrate(db.pool);
  t.deepEqual(again.applied, []);
  t.is(again.current, Math.max(...migrations.map((m) => m.version)));
  const pools = [openPool(db.url, { max: 1 }), openPool(db.url, { max: 1 }), openPool(db.url, { max: 1 })];
  t.teardown(() => Promise.all(pools.map((p) => p.end())));
  const results = await Promise.all(pools.map((p) => migrate(p)));
  t.deepEqual(results.flatMap((r) => r.applied), []);
  const rows = await db.pool.query('SELECT version FROM schema_migrations ORDER BY version');
  t.deepEqual(rows.rows.map((r) => r.version), migrations.map((m) => m.version));
});

test('migrations are numbered without gaps or repeats', (t) => {
  t.deepEqual(migrations.map((m) => m.version), migrations.map((_, i) => i + 1));
});
