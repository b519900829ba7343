import test from 'ava';
import { request } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { tempDir } from '../helpers/tmp.js';

const TOKEN = 'console-test-token';
let api: TestApi;
let unbuilt: TestApi;
let work: { path: string; cleanup: () => Promise<void> };

test.before(async () => {
  work = await tempDir('knit-console-');
  // A stand-in build: the real one is checked in a browser by test/console/console.test.ts.
  const dir = join(work.path, 'console');
  await mkdir(join(dir, 'assets'), { recursive: true });
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>knit console</title>');
  await writeFile(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
  // Beside the served folder: must never be reachable through it.
  await writeFile(join(work.path, 'secret.txt'), 'do not serve');
  api = await startTestApi({ token: TOKEN, consoleDir: dir });
  unbuilt = await startTestApi({ consoleDir: join(work.path, 'missing') });
});
test.after.always(async () => {
  await api?.close();
  await unbuilt?.close();
  await work?.cleanup();
});

/** A GET with the path sent exactly as given (fetch would resolve `..` segments first). */
function rawGet(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the page and its client routes answer index.html without a token; assets are served and cacheable', async (t) => {
  for (const path of ['/', '/data', '/runs/abc', '/lineage/data/0123', '/plans?x=1']) {
    const r = await rawGet(api.url, path);
    t.is(r.status, 200, path);
    t.regex(r.body, /knit console/, path);
    t.is(r.headers['cache-control'], 'no-cache', path);
  }
  const js = await rawGet(api.url, '/assets/index-abc123.js');
  t.is(js.status, 200);
  t.is(js.body, 'console.log(1)');
  t.regex(String(js.headers['content-type']), /javascript/);
  t.regex(String(js.headers['cache-control']), /immutable/);
  t.is((await rawGet(api.url, '/assets/nope.js')).status, 404);
});

test('no path reaches a file outside the console folder', async (t) => {
  for (const path of ['/assets/../../secret.txt', '/assets/..%2f..%2fsecret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/assets/..\\..\\secret.txt', '/data/../../secret.txt', '/assets/.hidden']) {
    const r = await rawGet(api.url, path);
    t.false(r.body.includes('do not serve'), `${path} answered ${r.status}: ${r.body}`);
    // A console route answers the page (the URL never names a file); an asset path a 404, never a 500.
    t.is(r.status, path.startsWith('/assets/') ? 404 : 200, path);
  }
});

test('the API still needs the token, unknown /api paths included, and other paths are not pages', async (t) => {
  t.is((await rawGet(api.url, '/api/data')).status, 401);
  t.is((await rawGet(api.url, '/api/nope')).status, 401);
  t.is((await rawGet(api.url, '/api/data', { authorization: `Bearer ${TOKEN}` })).status, 200);
  t.is((await rawGet(api.url, '/elsewhere', { authorization: `Bearer ${TOKEN}` })).status, 404);
});

test('an API without a built console says how to build it', async (t) => {
  const r = await rawGet(unbuilt.url, '/');
  t.is(r.status, 404);
  t.regex(r.body, /npm run build/);
});

test('a plan reads as its plan file with format=yaml', async (t) => {
  const { plan } = await api.client.applyPlan({ image: 'repo/console-yaml:1', inputs: [{ path: '/in/a', tags: ['console:yaml'] }], outputs: [{ path: '/out', tags: ['console:out'] }] });
  const auth = { authorization: `Bearer ${TOKEN}` };
  const r = await rawGet(api.url, `/api/plans/${plan!.id}?format=yaml`, auth);
  t.is(r.status, 200);
  t.regex(String(r.headers['content-type']), /yaml/);
  const spec = parse(r.body) as Record<string, unknown>;
  t.is(spec['image'], 'repo/console-yaml:1');
  t.deepEqual(spec['inputs'], [{ path: '/in/a', tags: ['console:yaml'] }]);
  t.false('id' in spec, 'a plan file has no id');
  t.is(JSON.parse((await rawGet(api.url, `/api/plans/${plan!.id}`, auth)).body).id, plan!.id);
  const bad = await rawGet(api.url, `/api/plans/${plan!.id}?format=xml`, auth);
  t.is(bad.status, 400);
  t.regex(bad.body, /format/);
});
