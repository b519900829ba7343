import test from 'ava';
import { withTx } from '../core/db/pool.js';
import { dockerRoute, statementVerb } from '../core/metrics/round-trips.js';
import { DockerEngine } from '../executor/docker/engine.js';
import { startHealthServer } from '../worker/health.js';
import { createTestDatabase } from './helpers/db.js';

// The worker's probe: 200 only while every Temporal worker of the process runs, and the states
// it saw, so `kubectl describe` shows why a replica was restarted.
test('the worker health endpoint follows the Temporal workers\' states', async (t) => {
  let states: Record<string, string> = { main: 'RUNNING', containers: 'RUNNING' };
  const h = await startHealthServer('127.0.0.1:0', () => states);
  t.teardown(() => h.close());
  const ok = await fetch(`${h.url}/healthz`);
  t.is(ok.status, 200);
  t.deepEqual(await ok.json(), { status: 'ok', workers: states });
  states = { main: 'RUNNING', containers: 'DRAINING' };
  const draining = await fetch(`${h.url}/healthz`);
  t.is(draining.status, 503);
  t.deepEqual(await draining.json(), { status: 'unhealthy', workers: states });
  t.is((await fetch(`${h.url}/other`)).status, 404);
  t.is((await fetch(`${h.url}/metrics`)).status, 200);
  t.is((await fetch(`${h.url}/healthz`, { method: 'POST' })).status, 404);
});

test('a taken address is a start-up error, not a silent worker without probes', async (t) => {
  const first = await startHealthServer('127.0.0.1:0', () => ({}));
  t.teardown(() => first.close());
  const port = new URL(first.url).port;
  await t.throwsAsync(startHealthServer(`127.0.0.1:${port}`, () => ({})), { message: /EADDRINUSE/ });
});

// What a bench reads to tell one run's cost in statements and engine calls (bench/lib/round-trips.ts).
test('GET /metrics counts the statements the pools send and the calls made to the Docker engine, by verb and route', async (t) => {
  const db = await createTestDatabase();
  const h = await startHealthServer('127.0.0.1:0', () => ({}));
  t.teardown(async () => {
    await h.close();
    await db.drop();
  });
  type Trips = { roundTrips: { database: Record<string, number>; docker: Record<string, number> } };
  const read = async () => ((await (await fetch(`${h.url}/metrics`)).json()) as Trips).roundTrips;
  const before = await read();
  await db.pool.query('SELECT 1');
  await withTx(db.pool, (tx) => tx.query('SELECT 2'));
  await new DockerEngine().inspect(`knit-metrics-absent-${Date.now()}`);
  const after = await read();
  const grew = (m: Record<string, number>, b: Record<string, number>, k: string) => (m[k] ?? 0) - (b[k] ?? 0);
  t.is(grew(after.database, before.database, 'SELECT'), 2);
  t.is(grew(after.database, before.database, 'BEGIN'), 1);
  t.is(grew(after.database, before.database, 'COMMIT'), 1);
  t.is(grew(after.docker, before.docker, 'GET /containers/{name}/json'), 1);
});

test('statements count by their first keyword, Docker calls by route without names', (t) => {
  t.is(statementVerb('  select 1'), 'SELECT');
  t.is(statementVerb('-- why\n  WITH x AS (SELECT 1) SELECT * FROM x'), 'WITH');
  t.is(statementVerb(''), 'OTHER');
  t.is(dockerRoute('GET', '/containers/knit-run-1/json'), 'GET /containers/{name}/json');
  t.is(dockerRoute('POST', '/containers/create?name=x'), 'POST /containers/create');
  t.is(dockerRoute('GET', '/containers/json?all=true'), 'GET /containers/json');
  t.is(dockerRoute('DELETE', '/volumes/knit-run-1-in0?force=true'), 'DELETE /volumes/{name}');
  t.is(dockerRoute('GET', '/images/knit-test%2Fbusybox%3A1/json'), 'GET /images/{name}/json');
});
