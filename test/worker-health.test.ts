import test from 'ava';
import { startHealthServer } from '../worker/health.js';

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
  t.is((await fetch(`${h.url}/healthz`, { method: 'POST' })).status, 404);
});

test('a taken address is a start-up error, not a silent worker without probes', async (t) => {
  const first = await startHealthServer('127.0.0.1:0', () => ({}));
  t.teardown(() => first.close());
  const port = new URL(first.url).port;
  await t.throwsAsync(startHealthServer(`127.0.0.1:${port}`, () => ({})), { message: /EADDRINUSE/ });
});
