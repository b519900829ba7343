import test from 'ava';
import { request } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KnitClient } from '../../client/knit-client.js';
import { KnitError } from '../../core/errors/knit-error.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { runKnit } from '../helpers/cli.js';
import { spawnKnitd } from '../helpers/knitd.js';
import { tempDir } from '../helpers/tmp.js';
import { createTestDatabase } from '../helpers/db.js';

const TOKEN = 's3cret-token';
let api: TestApi;
test.before(async () => {
  api = await startTestApi({ token: TOKEN });
});
test.after.always(() => api?.close());

function status(path: string, method = 'GET', headers: Record<string, string> = {}, body?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, api.url), { method, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('every route needs the bearer token when one is configured', async (t) => {
  for (const [method, path] of [
    ['GET', '/api/health'],
    ['GET', '/api/data'],
    ['GET', '/api/data/00000000-0000-4000-8000-000000000000'],
    ['GET', '/api/data/00000000-0000-4000-8000-000000000000/content'],
    ['PUT', '/api/data/00000000-0000-4000-8000-000000000000/tags'],
    ['POST', '/api/data'],
    ['GET', '/api/no-such-route'],
  ] as const) {
    const missing = await status(path, method);
    t.is(missing.status, 401, `${method} ${path} without a token`);
    t.regex(JSON.parse(missing.body).error.message, /missing bearer token/);
    const wrong = await status(path, method, { authorization: 'Bearer nope' });
    t.is(wrong.status, 401, `${method} ${path} with a wrong token`);
    t.regex(JSON.parse(wrong.body).error.message, /wrong bearer token/);
    t.is((await status(path, method, { authorization: `Basic ${TOKEN}` })).status, 401);
  }
  t.is((await status('/api/health', 'GET', { authorization: `Bearer ${TOKEN}` })).status, 200);
});

test('an upload with a wrong token is refused before anything is stored', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.cleanup);
  await writeFile(join(dir.path, 'a'), Buffer.alloc(4 << 20, 7));
  const wrong = new KnitClient({ server: api.url, token: 'nope' });
  const err = await t.throwsAsync(wrong.pushDirectory(dir.path, ['auth:test']), { instanceOf: KnitError });
  t.is(err?.code, 'unauthorized');
  t.is(Number((await api.db.pool.query('SELECT count(*) AS n FROM data')).rows[0].n), 0);
});

test('the CLI sends the token from --token or KNIT_TOKEN', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.cleanup);
  await mkdir(join(dir.path, 'd'));
  const env = { KNIT_SERVER: api.url, KNIT_HOME: join(dir.path, 'home') };
  const none = await runKnit(['data', 'find'], { env });
  t.is(none.code, 1);
  t.regex(none.stderr, /missing bearer token: pass --token or set KNIT_TOKEN/);
  t.is((await runKnit(['data', 'find', '--token', TOKEN], { env })).code, 0);
  t.is((await runKnit(['data', 'find'], { env: { ...env, KNIT_TOKEN: TOKEN } })).code, 0);
  t.is((await runKnit(['data', 'find', '--token', 'wrong'], { env: { ...env, KNIT_TOKEN: TOKEN } })).code, 1);
});

test('knitd refuses to listen beyond loopback without a token', async (t) => {
  const db = await createTestDatabase();
  const home = await tempDir();
  t.teardown(async () => {
    await db.drop();
    await home.cleanup();
  });
  const err = await t.throwsAsync(spawnKnitd({ DATABASE_URL: db.url, KNIT_HOME: home.path, KNIT_LISTEN: '0.0.0.0:0' }));
  t.regex(err!.message, /KNIT_LISTEN: refusing to listen on 0\.0\.0\.0 without KNIT_TOKEN/);
  const ok = await spawnKnitd({ DATABASE_URL: db.url, KNIT_HOME: home.path, KNIT_LISTEN: '0.0.0.0:0', KNIT_TOKEN: TOKEN });
  await ok.stop();
  t.pass();
});
