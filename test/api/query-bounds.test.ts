import test from 'ava';
import { request, type ClientRequest } from 'node:http';
import pg from 'pg';
import { noOrchestrator } from '../../api/orchestrator.js';
import { buildApi } from '../../api/server.js';
import { openPool, type Pool } from '../../core/db/pool.js';
import { createLogger } from '../../core/log/logger.js';
import { LocalBlobStore } from '../../core/storage/local-store.js';
import { hostResourceBounds } from '../../core/plan/resource-bounds.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { tempDir } from '../helpers/tmp.js';

let db: TestDatabase;
let home: Awaited<ReturnType<typeof tempDir>>;
const closers: Array<() => Promise<void>> = [];
test.before(async () => {
  db = await createTestDatabase();
  home = await tempDir('knit-home-');
});
test.after.always(async () => {
  for (const c of closers.reverse()) await c();
  await db?.drop();
  await home?.cleanup();
});

/** An API whose pool has its own application name (to find its backends) and statement timeout. */
async function api(name: string, statementTimeoutMs: number): Promise<{ url: string; pool: Pool }> {
  const pool = openPool(db.url, { max: 4, applicationName: name, statementTimeoutMs });
  const app = await buildApi({
    pool,
    store: new LocalBlobStore(`${home.path}/storage`),
    logger: createLogger('knitd-test', process.env['KNIT_TEST_LOG'] ?? 'silent'),
    config: { token: undefined, maxDataBytes: 2 ** 30, maxRunsPerApply: 100, resourceBounds: hostResourceBounds(), allowNetwork: true },
    orchestrator: noOrchestrator,
    onChange: () => {},
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  closers.push(async () => {
    await app.close();
    await pool.end();
  });
  const addr = app.server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, pool };
}

function send(url: string, method: string, body?: unknown): { req: ClientRequest; answer: Promise<{ status: number; body: { error?: { code: string; message: string } } }> } {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  let req!: ClientRequest;
  const answer = new Promise<{ status: number; body: { error?: { code: string; message: string } } }>((resolve, reject) => {
    req = request(url, { method, headers: payload ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(payload);
  });
  return { req, answer };
}

/** Another session holding a table locked, so that reads of it wait for as long as the test wants. */
async function lockTable(table = 'data'): Promise<{ release(): Promise<void> }> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query('BEGIN');
  await c.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  return {
    async release() {
      await c.query('ROLLBACK');
      await c.end();
    },
  };
}

async function activeQueries(applicationName: string): Promise<number> {
  const r = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND state = 'active'`,
    [applicationName],
  );
  return r.rows[0]!.n;
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test.serial('the statement timeout reaches PostgreSQL; the embedded PGlite takes the connection and ignores it', async (t) => {
  const a = await api('knitd-timeout-show', 1500);
  const r = await a.pool.query<{ statement_timeout: string }>('SHOW statement_timeout');
  // PGlite is one session shared by every connection and ignores startup parameters (README, Limits).
  t.is(r.rows[0]!.statement_timeout, db.kind === 'pglite' ? '0' : '1500ms');
  const off = await api('knitd-timeout-off', 0);
  t.is((await off.pool.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]!.statement_timeout, '0');
});

test.serial('a query over the statement timeout is cancelled and answered 503, not 500', async (t) => {
  if (db.kind === 'pglite') return void t.pass('PGlite serves one session at a time: a lock cannot make one query wait; see the README');
  const a = await api('knitd-timeout', 500);
  const lock = await lockTable();
  try {
    const started = Date.now();
    const r = await send(`${a.url}/api/data?tag=a:b`, 'GET').answer;
    t.is(r.status, 503);
    t.is(r.body.error?.code, 'unavailable');
    t.regex(r.body.error!.message, /KNIT_STATEMENT_TIMEOUT/);
    t.true(Date.now() - started < 5000);
  } finally {
    await lock.release();
  }
  t.is((await send(`${a.url}/api/data?tag=a:b`, 'GET').answer).status, 200, 'the pool still works');
});

for (const [route, method, body, table] of [
  ['/api/data?tag=a:b', 'GET', undefined, 'data'],
  ['/api/runs?status=done', 'GET', undefined, 'run'],
  ['/api/plans?in=a:b', 'GET', undefined, 'plan'],
  ['/api/plans?dryRun=true', 'POST', { image: 'x/y:1', inputs: [{ path: '/in', tags: ['a:b'] }] }, 'data'],
] as const) {
  test.serial(`${method} ${route.split('?')[0]}${method === 'POST' ? ' (dry run)' : ''}: a client that disconnects has its query cancelled`, async (t) => {
    if (db.kind === 'pglite') return void t.pass('PGlite cannot interrupt a running statement; see the README');
    const name = `knitd-gone-${Math.random().toString(36).slice(2, 8)}`;
    const a = await api(name, 0);
    const lock = await lockTable(table);
    try {
      const { req, answer } = send(`${a.url}${route}`, method, body);
      answer.catch(() => {});
      await until('the query to wait on the lock', async () => (await activeQueries(name)) > 0);
      req.destroy();
      await until('the query to be gone from pg_stat_activity', async () => (await activeQueries(name)) === 0, 5000);
      t.pass();
    } finally {
      await lock.release();
    }
  });
}
