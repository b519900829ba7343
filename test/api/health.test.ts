import test from 'ava';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { PrivatePostgres } from '../helpers/private-postgres.js';

const TOKEN = 'probe-test-token';
let api: TestApi;
test.before(async () => {
  api = await startTestApi({ token: TOKEN });
});
test.after.always(() => api?.close());

// A kubelet's probe carries no token: the probe endpoints must answer without one, and say
// nothing beyond ok; every other route keeps asking for the token.
test('/healthz and /readyz answer without the token; /api/health still needs it', async (t) => {
  for (const path of ['/healthz', '/readyz']) {
    const res = await fetch(new URL(path, api.url));
    t.is(res.status, 200, path);
    t.deepEqual(await res.json(), { status: 'ok' }, path);
  }
  t.is((await fetch(new URL('/api/health', api.url))).status, 401);
  t.is((await fetch(new URL('/api/health', api.url), { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  // Only GET: a probe path opens no other method.
  t.is((await fetch(new URL('/healthz', api.url), { method: 'POST' })).status, 401);
});

test('/readyz answers 503 once the database is gone, /healthz stays 200', async (t) => {
  const pg = await PrivatePostgres.create();
  t.teardown(() => pg.destroy());
  const own = await startTestApi({ databaseServer: pg.url() });
  t.teardown(() => own.close().catch(() => {}));
  t.is((await fetch(new URL('/readyz', own.url))).status, 200);
  await pg.stop('immediate');
  const ready = await fetch(new URL('/readyz', own.url));
  t.is(ready.status, 503);
  t.deepEqual(await ready.json(), { status: 'database unreachable' });
  t.is((await fetch(new URL('/healthz', own.url))).status, 200);
});
