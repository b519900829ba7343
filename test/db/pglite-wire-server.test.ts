import test from 'ava';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../core/db/embedded.js';

test('the embedded server keeps concurrent clients apart: whole requests, transactions, rollback on disconnect', async (t) => {
  const db = await startEmbeddedPostgres();
  t.teardown(() => db.stop());
  const pool = new pg.Pool({ connectionString: db.url, max: 8 });
  t.teardown(() => pool.end());
  await pool.query('CREATE TABLE t (id int PRIMARY KEY, v text)');

  // Many parameterized (extended-protocol) queries at once: each must get its own answer.
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => pool.query('SELECT $1::int * 2 AS x, $2::text AS s', [i, `s${i}`])));
  answers.forEach((r, i) => t.deepEqual(r.rows[0], { x: i * 2, s: `s${i}` }));

  // A transaction sees only itself; others wait for it instead of running inside it.
  const a = await pool.connect();
  await a.query('BEGIN');
  await a.query('INSERT INTO t VALUES (1, $1)', ['in-tx']);
  const outside = pool.query('SELECT count(*)::int AS n FROM t');
  await a.query('INSERT INTO t VALUES (2, $1)', ['in-tx']);
  await a.query('ROLLBACK');
  a.release();
  t.is((await outside).rows[0].n, 0, 'the other client never saw uncommitted rows');

  // A client that vanishes mid-transaction has it rolled back, and others carry on.
  const dying = new pg.Client({ connectionString: db.url });
  dying.on('error', () => {});
  await dying.connect();
  await dying.query('BEGIN');
  await dying.query('INSERT INTO t VALUES (3, $1)', ['doomed']);
  (dying as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  t.is((await pool.query('SELECT count(*)::int AS n FROM t')).rows[0].n, 0);
  await pool.query('INSERT INTO t VALUES (4, $1)', ['after']);
  t.deepEqual((await pool.query('SELECT id FROM t')).rows, [{ id: 4 }]);
});

// Why the live-log hub polls on PGlite (core/run/live-log-hub.ts): every wire client shares its
// one session, so a NOTIFY comes back to the client that sent it, and a LISTENing client never
// hears it, not even with its next request.
test('on the embedded server a notification reaches the sender, not the listener', async (t) => {
  const db = await startEmbeddedPostgres();
  t.teardown(() => db.stop());
  const heard = { listener: [] as string[], sender: [] as string[] };
  const listener = new pg.Client({ connectionString: db.url });
  const sender = new pg.Client({ connectionString: db.url });
  await listener.connect();
  await sender.connect();
  t.teardown(async () => {
    await listener.end();
    await sender.end();
  });
  listener.on('notification', (n) => heard.listener.push(n.payload ?? ''));
  sender.on('notification', (n) => heard.sender.push(n.payload ?? ''));
  await listener.query('LISTEN probe');
  // The notification is part of the answer to this query: it has been dispatched when it resolves.
  await sender.query("SELECT pg_notify('probe', 'x')");
  await listener.query('SELECT 1');
  t.deepEqual(heard, { listener: [], sender: ['x'] });
});
