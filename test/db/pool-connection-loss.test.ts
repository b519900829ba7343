import test from 'ava';
import pg from 'pg';
import { isConnectionError } from '../../core/db/connection-errors.js';
import { startEmbeddedPostgres } from '../../core/db/embedded.js';
import { openPool, withClient, withTx } from '../../core/db/pool.js';
import { createTestDatabase } from '../helpers/db.js';

/**
 * A pooled client whose connection goes while it is checked out (inside withTx or withClient):
 * the caller gets a connection error, nothing is emitted unheard (which would end this process),
 * and the client is destroyed, not handed out again.
 */

// PGlite has a single backend, which cannot be terminated; the next test covers its wire server.
const onServer = process.env['DATABASE_URL'] && process.env['KNIT_TEST_DB'] !== 'pglite' ? test : test.skip;

onServer('a backend terminated inside withTx: the transaction fails with a connection error and the next one gets a new connection', async (t) => {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const pool = openPool(db.url, { max: 2, applicationName: 'knit-pool-test' });
  t.teardown(() => pool.end());
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  t.teardown(() => admin.end());

  let victim = 0;
  const err = await t.throwsAsync(
    withTx(pool, async (tx) => {
      victim = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await admin.query('SELECT pg_terminate_backend($1)', [victim]);
      // The termination reaches this client as an error on its next statement, or as an
      // 'error' event on the client while it waits.
      await new Promise((r) => setTimeout(r, 100));
      await tx.query('SELECT 1');
    }),
  );
  t.true(isConnectionError(err), String(err));
  await new Promise((r) => setTimeout(r, 100));

  const pid = await withTx(pool, async (tx) => (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
  t.not(pid, victim);
  t.is(pool.totalCount, 1, 'the broken client was destroyed, not returned');
});

test('the embedded wire server going away while a client is checked out: the caller gets a connection error, the process lives', async (t) => {
  const embedded = await startEmbeddedPostgres();
  const pool = openPool(embedded.url, { max: 2 });
  t.teardown(() => pool.end().catch(() => {}));
  let stopped = false;
  const err = await t.throwsAsync(
    withClient(pool, async (client) => {
      await client.query('BEGIN');
      await client.query('SELECT 1');
      await embedded.stop();
      stopped = true;
      await new Promise((r) => setTimeout(r, 100));
      await client.query('SELECT 1');
    }),
  );
  t.true(stopped);
  t.true(isConnectionError(err), String(err));
  t.is(pool.totalCount, 0, 'the broken client was destroyed, not returned');
  const down = await t.throwsAsync(pool.query('SELECT 1'));
  t.true(isConnectionError(down), String(down));
});

test('connection errors are told apart from statement errors', (t) => {
  const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  t.true(isConnectionError(withCode('ECONNREFUSED')));
  t.true(isConnectionError(withCode('ECONNRESET')));
  t.true(isConnectionError(withCode('57P01')));
  t.true(isConnectionError(withCode('57P02')));
  t.true(isConnectionError(withCode('57P03')));
  t.true(isConnectionError(withCode('08006')));
  t.true(isConnectionError(new Error('Connection terminated unexpectedly')));
  t.true(isConnectionError(new AggregateError([withCode('ECONNREFUSED')], '')));
  t.true(isConnectionError(new Error('migration 3 failed', { cause: withCode('57P01') })));
  t.false(isConnectionError(withCode('23505')));
  t.false(isConnectionError(withCode('57014'))); // statement timeout / cancel: the statement, not the connection
  t.false(isConnectionError(withCode('40001')));
  t.false(isConnectionError(new Error('syntax error at or near "SELEC"')));
  t.false(isConnectionError(undefined));
});
