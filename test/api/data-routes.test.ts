import test from 'ava';
import { request } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { craftTar } from '../helpers/tar.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { tempDir } from '../helpers/tmp.js';
import { KnitError } from '../../core/errors/knit-error.js';

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function raw(api: TestApi, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, api.url), { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function errorOf(r: RawResponse): { code: string; message: string; field?: string } {
  return (JSON.parse(r.body.toString()) as { error: { code: string; message: string; field?: string } }).error;
}

async function pushDir(api: TestApi, files: Record<string, string>, tags: string[]) {
  const dir = await tempDir();
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir.path, name, '..'), { recursive: true });
    await writeFile(join(dir.path, name), content);
  }
  try {
    return await api.client.pushDirectory(dir.path, tags);
  } finally {
    await dir.cleanup();
  }
}

let api: TestApi;
test.before(async () => {
  api = await startTestApi({ maxDataBytes: 64 * 1024 });
});
test.after.always(async () => {
  await api?.close();
});

test.serial('POST /api/data stores the archive with its tags and system tags, and records an outbox event', async (t) => {
  const before = api.changes.length;
  const d = await pushDir(api, { 'a.txt': 'hello' }, ['project:alpha', 'stage: raw ']);
  t.regex(d.id, /^[0-9a-f-]{36}$/);
  t.true(d.tags.includes(`knit#id:${d.id}`));
  t.true(d.tags.includes(`knit#timestamp:${d.createdAt}`));
  t.regex(d.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.true(d.tags.includes('project:alpha'));
  t.true(d.tags.includes('stage:raw'), 'tags are trimmed');
  t.regex(d.digest!, /^sha256:[0-9a-f]{64}$/);
  t.deepEqual(api.changes.slice(before), [{ kind: 'data.created', id: d.id }]);
  const outbox = await api.db.pool.query('SELECT kind FROM outbox WHERE subject_id = $1', [d.id]);
  t.deepEqual(outbox.rows, [{ kind: 'data.created' }]);
});

test.serial('GET /api/data ANDs tags, returns oldest first, and honours since/duration', async (t) => {
  const a = await pushDir(api, { x: '1' }, ['suite:find', 'kind:img']);
  const b = await pushDir(api, { x: '2' }, ['suite:find', 'kind:img', 'split:train']);
  const c = await pushDir(api, { x: '3' }, ['suite:find', 'kind:txt']);
  t.deepEqual((await api.client.findData({ tags: ['suite:find'] })).map((d) => d.id), [a.id, b.id, c.id]);
  t.deepEqual((await api.client.findData({ tags: ['suite:find', 'kind:img'] })).map((d) => d.id), [a.id, b.id]);
  t.deepEqual((await api.client.findData({ tags: ['suite:find', 'kind:img', 'split:train'] })).map((d) => d.id), [b.id]);
  t.deepEqual((await api.client.findData({ tags: ['suite:find', 'Kind:img'] })).map((d) => d.id), [], 'case-sensitive');
  t.deepEqual((await api.client.findData({ tags: [`knit#id:${b.id}`] })).map((d) => d.id), [b.id]);
  t.deepEqual((await api.client.findData({ tags: ['suite:find', `knit#timestamp:${c.createdAt}`] })).map((d) => d.id), [c.id]);
  t.deepEqual((await api.client.findData({ tags: ['suite:find'], since: b.createdAt })).map((d) => d.id), [b.id, c.id]);
  const window = Date.parse(c.createdAt) - Date.parse(b.createdAt);
  t.deepEqual((await api.client.findData({ tags: ['suite:find'], since: b.createdAt, duration: `${window}ms` })).map((d) => d.id), [b.id]);
});

test.serial('GET /api/data rejects bad queries naming the field', async (t) => {
  for (const [query, field, re] of [
    ['tag=nocolon', 'tag[0]', /KEY:VALUE/],
    ['tag=a:b&tag=knit%23transient:x', 'tag[1]', /cannot be used to select/],
    ['since=yesterday', 'since', /RFC3339/],
    ['since=2026-01-01T00:00:00Z&duration=forever', 'duration', /duration/],
    ['duration=1h', 'duration', /needs since/],
  ] as const) {
    const r = await raw(api, 'GET', `/api/data?${query}`);
    t.is(r.status, 400, query);
    t.is(errorOf(r).field, field, query);
    t.regex(errorOf(r).message, re, query);
  }
});

test.serial('GET /api/data/{id} and /content: detail, archive with digest header, 404 and 400', async (t) => {
  const d = await pushDir(api, { 'f.txt': 'content' }, ['k:v']);
  t.deepEqual(await api.client.getData(d.id), d);
  const content = await raw(api, 'GET', `/api/data/${d.id}/content`);
  t.is(content.status, 200);
  t.is(content.headers['x-knit-digest'], d.digest!);
  t.is(Number(content.headers['content-length']), d.size!);
  t.is(content.body.length, d.size!);
  const missing = await raw(api, 'GET', '/api/data/00000000-0000-4000-8000-000000000000');
  t.is(missing.status, 404);
  t.is(errorOf(missing).code, 'not_found');
  t.is((await raw(api, 'GET', '/api/data/00000000-0000-4000-8000-000000000000/content')).status, 404);
  const bad = await raw(api, 'GET', '/api/data/not-an-id');
  t.is(bad.status, 400);
  t.is(errorOf(bad).field, 'id');
  t.is((await raw(api, 'GET', '/api/nothing-here')).status, 404);
});

test.serial('POST /api/data rejects bad tags, reserved tags, bad media types and bad archives, storing nothing', async (t) => {
  const tar = await craftTar([{ name: 'a.txt', type: 'file', content: 'x' }]);
  const count = async () => Number((await api.db.pool.query('SELECT count(*) AS n FROM data')).rows[0].n);
  const n0 = await count();
  const cases: Array<[string, Buffer, Record<string, string>, number, string, RegExp]> = [
    ['/api/data?tag=ok:1&tag=broken', tar, { 'content-type': 'application/x-tar' }, 400, 'tag[1]', /KEY:VALUE/],
    ['/api/data?tag=knit%23id:x', tar, { 'content-type': 'application/x-tar' }, 400, 'tag[0]', /reserved/],
    ['/api/data?tag=knit%23transient:failed', tar, { 'content-type': 'application/x-tar' }, 400, 'tag[0]', /reserved/],
    ['/api/data', tar, { 'content-type': 'text/plain' }, 400, 'content-type', /tar/],
    ['/api/data', await craftTar([{ name: '../evil', type: 'file', content: 'x' }]), { 'content-type': 'application/x-tar' }, 400, 'body', /escape/],
    ['/api/data', Buffer.from('not a tar'), { 'content-type': 'application/x-tar' }, 400, 'body', /tar/],
  ];
  for (const [path, body, headers, status, field, re] of cases) {
    const r = await raw(api, 'POST', path, body, headers);
    t.is(r.status, status, path);
    t.is(errorOf(r).field, field, path);
    t.regex(errorOf(r).message, re, path);
  }
  t.is(await count(), n0);
  t.deepEqual(await collectKeys(api), (await api.db.pool.query('SELECT blob_key FROM data ORDER BY blob_key')).rows.map((r) => r.blob_key));
});

async function collectKeys(a: TestApi): Promise<string[]> {
  const keys: string[] = [];
  for await (const e of a.store.list('')) keys.push(e.key);
  return keys.sort();
}

test.serial('uploads over the configured size limit get 413, streamed or declared, and leave nothing', async (t) => {
  const big = await craftTar([{ name: 'big.bin', type: 'file', content: 'x'.repeat(100 * 1024) }]);
  const declared = await raw(api, 'POST', '/api/data', big, { 'content-type': 'application/x-tar', 'content-length': String(big.length) });
  t.is(declared.status, 413);
  t.is(errorOf(declared).code, 'payload_too_large');
  t.regex(errorOf(declared).message, /limit/);

  const dir = await tempDir();
  t.teardown(dir.cleanup);
  await writeFile(join(dir.path, 'big.bin'), Buffer.alloc(200 * 1024, 1));
  const err = await t.throwsAsync(api.client.pushDirectory(dir.path, ['size:big']), { instanceOf: KnitError });
  t.is(err?.code, 'payload_too_large');
  t.deepEqual(await api.client.findData({ tags: ['size:big'] }), []);
  t.deepEqual(await collectKeys(api), (await api.db.pool.query('SELECT blob_key FROM data ORDER BY blob_key')).rows.map((r) => r.blob_key));
});

test.serial('PUT /api/data/{id}/tags removes, then adds, and find sees the change', async (t) => {
  const d = await pushDir(api, { a: 'a' }, ['stage:raw', 'owner:ann', 'owner:bob', 'keep:me']);
  const after = await api.client.tagData(d.id, { remove: ['stage:raw'], removeKey: ['owner'], add: ['stage:clean', 'owner:cy'] });
  const user = after.tags.filter((x) => !x.startsWith('knit#')).sort();
  t.deepEqual(user, ['keep:me', 'owner:cy', 'stage:clean']);
  t.deepEqual((await api.client.findData({ tags: ['stage:raw', `knit#id:${d.id}`] })).length, 0);
  t.deepEqual((await api.client.findData({ tags: ['stage:clean', `knit#id:${d.id}`] })).map((x) => x.id), [d.id]);
  // Same tag removed and added in one change: removal first, so it stays.
  const same = await api.client.tagData(d.id, { remove: ['keep:me'], add: ['keep:me'] });
  t.true(same.tags.includes('keep:me'));
  t.is(same.digest, d.digest, 'content never changes');
});

test.serial('PUT /api/data/{id}/tags is all-or-nothing and refuses system tags', async (t) => {
  const d = await pushDir(api, { a: 'a' }, ['stage:raw']);
  for (const [body, field, re] of [
    [{ add: ['good:1', 'bad'] }, 'add[1]', /KEY:VALUE/],
    [{ add: ['knit#id:1'] }, 'add[0]', /reserved/],
    [{ remove: ['knit#timestamp:2026-01-01T00:00:00Z'] }, 'remove[0]', /reserved/],
    [{ removeKey: ['knit#transient'] }, 'removeKey[0]', /reserved/],
    [{ removeKey: [' '] }, 'removeKey[0]', /empty/],
    [{ remove: ['stage:raw'], add: ['x:\u0000'] }, 'add[0]', /control/],
    [{ adds: ['typo:1'] }, 'adds', /adds/],
  ] as const) {
    const r = await raw(api, 'PUT', `/api/data/${d.id}/tags`, JSON.stringify(body), { 'content-type': 'application/json' });
    t.is(r.status, 400, JSON.stringify(body));
    t.is(errorOf(r).field, field, JSON.stringify(body));
    t.regex(errorOf(r).message, re, JSON.stringify(body));
  }
  t.deepEqual((await api.client.getData(d.id)).tags.filter((x) => !x.startsWith('knit#')), ['stage:raw']);
  const missing = await raw(api, 'PUT', '/api/data/00000000-0000-4000-8000-000000000000/tags', JSON.stringify({ add: ['a:b'] }), { 'content-type': 'application/json' });
  t.is(missing.status, 404);
  const malformed = await raw(api, 'PUT', `/api/data/${d.id}/tags`, '{"add": [', { 'content-type': 'application/json' });
  t.is(malformed.status, 400);
  t.is(errorOf(malformed).field, 'body');
});
