import test from 'ava';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ErrorBody } from '../../core/errors/knit-error.js';
import { migrate } from '../../core/db/migrate.js';
import { openPool } from '../../core/db/pool.js';
import { matcherWorkflowId } from '../../workflows/definitions.js';
import { Client, Connection } from '@temporalio/client';
import { createTestDatabase } from '../helpers/db.js';
import { spawnKnitd, type KnitdProcess } from '../helpers/knitd.js';
import { PrivatePostgres } from '../helpers/private-postgres.js';
import { temporalAddress, TEST_IMAGE } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * knitd against a database that drops connections or goes away: the process stays up, answers
 * 503 with knit's error JSON while the database is unreachable, and serves again once it is back.
 */

const planSpec = (tag: string) => ({
  image: TEST_IMAGE,
  entrypoint: ['sh', '-c'],
  args: ['true'],
  inputs: [{ path: '/in', tags: [`resilience:${tag}`] }],
  outputs: [],
});

async function request(base: string, method: 'GET' | 'POST', path: string, json?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(new URL(path, base), {
    method,
    ...(json !== undefined ? { body: JSON.stringify(json), headers: { 'content-type': 'application/json' } } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

function alive(knitd: KnitdProcess): boolean {
  return knitd.child.exitCode === null && knitd.child.signalCode === null;
}

async function startKnitd(databaseUrl: string, instance: string, home: string): Promise<KnitdProcess> {
  return spawnKnitd({ DATABASE_URL: databaseUrl, KNIT_HOME: home, KNIT_INSTANCE: instance, TEMPORAL_ADDRESS: temporalAddress(), TEMPORAL_NAMESPACE: 'default' });
}

/** The matcher the API's wake-ups started for `instance` (no worker runs it here). */
async function terminateMatcher(instance: string): Promise<void> {
  const connection = await Connection.connect({ address: temporalAddress() });
  try {
    await new Client({ connection })
      .workflow.getHandle(matcherWorkflowId(instance))
      .terminate('test over')
      .catch(() => {});
  } finally {
    await connection.close();
  }
}

const onServer = process.env['DATABASE_URL'] && process.env['KNIT_TEST_DB'] !== 'pglite' ? test.serial : test.serial.skip;

onServer('a knitd backend terminated while it waits on a lock: knitd stays up, answers 503, then serves', async (t) => {
  const db = await createTestDatabase();
  const home = await tempDir('knit-resilience-');
  const instance = `t${randomBytes(5).toString('hex')}`;
  t.teardown(async () => {
    await terminateMatcher(instance);
    await db.drop();
    await home.cleanup();
  });
  const knitd = await startKnitd(db.url, instance, home.path);
  t.teardown(() => knitd.stop());
  const dbName = new URL(db.url).pathname.slice(1);

  // The repro from issue 6: a plan's transaction waits behind a lock on the outbox.
  const locker = new pg.Client({ connectionString: db.url });
  locker.on('error', () => {});
  await locker.connect();
  t.teardown(() => locker.end().catch(() => {}));
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE outbox IN EXCLUSIVE MODE');

  const applying = request(knitd.url, 'POST', '/api/plans', planSpec('blocked'));
  const waiting = await waitFor('the knitd backend to wait on the lock', async () => {
    const r = await db.pool.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'knitd' AND wait_event_type = 'Lock'`,
      [dbName],
    );
    return r.rows[0]?.pid;
  });
  await db.pool.query('SELECT pg_terminate_backend($1)', [waiting]);
  const answer = await applying;
  await locker.query('ROLLBACK');

  t.is(answer.status, 503, JSON.stringify(answer.body));
  const body = ErrorBody.parse(answer.body);
  t.is(body.error.code, 'unavailable');
  t.regex(body.error.message, /database is unreachable.*retry/);

  // Still the same process, and it serves: the broken client was not handed out again.
  await new Promise((r) => setTimeout(r, 200));
  t.true(alive(knitd), `knitd exited:\n${knitd.stderr()}`);
  const retried = await request(knitd.url, 'POST', '/api/plans', planSpec('blocked'));
  t.is(retried.status, 201, JSON.stringify(retried.body));
  for (let i = 0; i < 12; i++) t.is((await request(knitd.url, 'GET', '/api/plans')).status, 200);
  t.true(alive(knitd));
  t.notRegex(knitd.stderr(), /Unhandled 'error' event/);
});

test.serial('the database stopped and started again: knitd answers 503 meanwhile, then 200, and never exits', async (t) => {
  const pgServer = await PrivatePostgres.create();
  t.teardown(() => pgServer.destroy());
  const home = await tempDir('knit-resilience-');
  const instance = `t${randomBytes(5).toString('hex')}`;
  t.teardown(async () => {
    await terminateMatcher(instance);
    await home.cleanup();
  });
  const pool = openPool(pgServer.url(), { max: 2 });
  await migrate(pool);
  await pool.end();

  const knitd = await startKnitd(pgServer.url(), instance, home.path);
  t.teardown(() => knitd.stop());
  t.is((await request(knitd.url, 'POST', '/api/plans', planSpec('before'))).status, 201);
  // Connections in the pool, idle, when the server goes.
  await Promise.all(Array.from({ length: 4 }, () => request(knitd.url, 'GET', '/api/plans')));

  await pgServer.stop('fast');
  for (const [method, path, json] of [
    ['GET', '/api/plans', undefined],
    ['POST', '/api/plans', planSpec('down')],
    ['GET', '/api/data', undefined],
    ['GET', '/api/runs', undefined],
  ] as const) {
    const down = await request(knitd.url, method, path, json);
    t.is(down.status, 503, `${method} ${path}: ${JSON.stringify(down.body)}`);
    const body = ErrorBody.parse(down.body);
    t.is(body.error.code, 'unavailable');
    t.regex(body.error.message, /database is unreachable/);
  }
  t.true(alive(knitd), `knitd exited:\n${knitd.stderr()}`);

  await pgServer.start();
  // The pool connects anew on the next checkout: the first request after the restart works.
  const after = await request(knitd.url, 'GET', '/api/plans');
  t.is(after.status, 200, JSON.stringify(after.body));
  t.is((after.body as unknown[]).length, 1);
  t.is((await request(knitd.url, 'POST', '/api/plans', planSpec('after'))).status, 201);

  // A crash (no clean shutdown) while a request holds a connection in a transaction.
  const locker = new pg.Client({ connectionString: pgServer.url() });
  locker.on('error', () => {});
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE outbox IN EXCLUSIVE MODE');
  const applying = request(knitd.url, 'POST', '/api/plans', planSpec('crash'));
  await waitFor('the knitd backend to wait on the lock', async () => {
    const r = await locker.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'knitd' AND wait_event_type = 'Lock'`);
    return r.rowCount! > 0;
  });
  await pgServer.stop('immediate');
  const crashed = await applying;
  t.is(crashed.status, 503, JSON.stringify(crashed.body));
  await locker.end().catch(() => {});
  t.true(alive(knitd), `knitd exited:\n${knitd.stderr()}`);
  await pgServer.start();
  t.is((await request(knitd.url, 'GET', '/api/plans')).status, 200);
  t.true(alive(knitd));
  t.notRegex(knitd.stderr(), /Unhandled 'error' event/);
});
