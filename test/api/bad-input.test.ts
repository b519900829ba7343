import test from 'ava';
import { request } from 'node:http';
import { craftTar } from '../helpers/tar.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { encodeHeader, END_OF_ARCHIVE } from '../../core/archive/tar-format.js';

interface RawResponse {
  status: number;
  body: Buffer;
}

function raw(api: TestApi, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // The path is sent as given: the tests need bytes URL() would re-encode.
    const url = new URL(api.url);
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function errorOf(r: RawResponse): { code: string; message: string; field?: string } {
  return (JSON.parse(r.body.toString()) as { error: { code: string; message: string; field?: string } }).error;
}

const json = (v: unknown) => [JSON.stringify(v), { 'content-type': 'application/json' }] as const;

let api: TestApi;
let dataId: string;
test.before(async () => {
  api = await startTestApi();
  const tar = await craftTar([{ name: 'a.txt', type: 'file', content: 'a' }]);
  const r = await raw(api, 'POST', '/api/data?tag=k:v', tar, { 'content-type': 'application/x-tar' });
  dataId = (JSON.parse(r.body.toString()) as { id: string }).id;
});
test.after.always(async () => {
  await api?.close();
});

/** A tar whose first header's size field is replaced by `field`, checksum fixed up. */
async function tarWithSizeField(field: Buffer): Promise<Buffer> {
  const tar = await craftTar([{ name: 'a.txt', type: 'file', content: '' }]);
  field.copy(tar, 124);
  tar.fill(' ', 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += tar[i]!;
  tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return tar;
}

async function expect400(t: import('ava').ExecutionContext, r: RawResponse, field: string | RegExp, what: string) {
  t.is(r.status, 400, `${what}: ${r.body.toString()}`);
  const e = errorOf(r);
  t.is(e.code, 'bad_request', what);
  if (typeof field === 'string') t.is(e.field, field, what);
  else t.regex(e.field ?? '', field, what);
}

test('an upload whose tar header has a bad base-256 number is a 400 naming the body', async (t) => {
  const invalid = Buffer.alloc(12, 0);
  invalid[0] = 0x81; // neither 0x80 (positive) nor 0xff (negative)
  const negative = Buffer.alloc(12, 0xff); // base-256 -1
  const huge = Buffer.alloc(12, 0xff);
  huge[0] = 0x80; // 2^88 - 1: past 2^53
  const notOctal = Buffer.from('zzzzzzzzzzz\0');
  for (const [what, field] of [['invalid', invalid], ['negative', negative], ['huge', huge], ['not octal', notOctal]] as const) {
    const r = await raw(api, 'POST', '/api/data', await tarWithSizeField(field), { 'content-type': 'application/x-tar' });
    await expect400(t, r, 'body', what);
    t.regex(errorOf(r).message, /tar/, what);
  }
});

test('a NUL, newline or control character in removeKey is a 400 naming it', async (t) => {
  for (const key of ['a\u0000b', 'a\nb', 'a\u0007', 'k:v', 'a\u202eb']) {
    const r = await raw(api, 'PUT', `/api/data/${dataId}/tags`, ...json({ removeKey: ['fine', key] }));
    await expect400(t, r, 'removeKey[1]', JSON.stringify(key));
  }
  const r = await raw(api, 'PUT', `/api/plans/11111111-2222-4333-8444-555555555555/annotations`, ...json({ removeKey: ['a\u0000b'] }));
  await expect400(t, r, 'removeKey[0]', 'annotation key');
});

test('a NUL or a lone surrogate anywhere in a JSON body is a 400 naming the field', async (t) => {
  for (const [body, field] of [
    [{ add: ['a:b\u0000'] }, 'add[0]'],
    [{ add: ['a:\ud800'] }, 'add[0]'],
  ] as const) {
    const r = await raw(api, 'PUT', `/api/data/${dataId}/tags`, ...json(body));
    await expect400(t, r, field, JSON.stringify(body));
  }
  const plan = await raw(api, 'POST', '/api/plans', ...json({ image: 'busybox:1', args: ['x\u0000'], inputs: [{ path: '/in', tags: ['a:b'] }] }));
  await expect400(t, plan, 'args[0]', 'plan args');
});

test('a JSON body nested deeper than the limit is a 400 on body, however deep, and a plan-shaped one is fine', async (t) => {
  for (const depth of [33, 20_000]) {
    for (const [open, close] of [['[', ']'], ['{"a":', '}']] as const) {
      const body = `${open.repeat(depth)}1${close.repeat(depth)}`;
      const r = await raw(api, 'POST', '/api/plans', body, { 'content-type': 'application/json' });
      await expect400(t, r, 'body', `${open} × ${depth}`);
    }
  }
  // Brackets inside strings are text, not nesting.
  const plan = await raw(api, 'POST', '/api/plans?dryRun=true', ...json({ image: 'busybox:1', args: ['['.repeat(100)], inputs: [{ path: '/in', tags: ['a:b'] }] }));
  t.is(plan.status, 200, plan.body.toString());
});

test('out-of-range since and duration are 400 on every find route, not a database error', async (t) => {
  for (const route of ['/api/data', '/api/runs']) {
    for (const [query, field] of [
      ['since=%2B275760-09-13T00:00:00Z', 'since'],
      ['since=-271821-04-20T00:00:00Z', 'since'],
      ['since=99999', 'since'],
      ['since=2026-01-01T00:00:00Z&duration=100000000000000000000000000000d', 'duration'],
      ['since=2026-01-01T00:00:00Z&duration=-1d', 'duration'],
      ['since=2026-01-01T00:00:00Z&duration=1e30d', 'duration'],
    ] as const) {
      const r = await raw(api, 'GET', `${route}?${query}`);
      await expect400(t, r, field, `${route}?${query}`);
    }
  }
});

test('ids over the URL limit get 414, and headers over the limit 431, in knit error JSON', async (t) => {
  const long = await raw(api, 'GET', `/api/data/${'a'.repeat(500)}`);
  t.is(long.status, 414, long.body.toString());
  t.like(errorOf(long), { code: 'uri_too_long', field: 'id' });
  const badUrl = await raw(api, 'GET', '/api/data/%E0%A4%A');
  t.is(badUrl.status, 400, badUrl.body.toString());
  t.like(errorOf(badUrl), { code: 'bad_request', field: 'url' });
  const huge = await raw(api, 'GET', `/api/data?tag=${'a'.repeat(70_000)}:b`);
  t.is(huge.status, 431, huge.body.toString());
  t.like(errorOf(huge), { code: 'headers_too_large', field: 'headers' });
});

test('unknown query parameters are refused on every route, naming the parameter; repeated tags still work', async (t) => {
  for (const path of [
    '/api/data?tga=a:b',
    '/api/data?tag=k:v&colour=red',
    `/api/data/${dataId}?colour=red`,
    `/api/data/${dataId}/content?colour=red`,
    '/api/runs?colour=red',
    '/api/plans?colour=red',
    '/api/plans/graph?colour=red',
    '/api/health?colour=red',
    `/api/lineage/data/${dataId}?colour=red`,
  ]) {
    const r = await raw(api, 'GET', path);
    await expect400(t, r, /^(tga|colour)$/, path);
  }
  const put = await raw(api, 'PUT', `/api/data/${dataId}/tags?colour=red`, ...json({ add: ['x:y'] }));
  await expect400(t, put, 'colour', 'PUT tags');
  const ok = await raw(api, 'GET', '/api/data?tag=k:v&tag=knit%23id:' + dataId);
  t.is(ok.status, 200, ok.body.toString());
  t.is((JSON.parse(ok.body.toString()) as unknown[]).length, 1);
});

test('invalid UTF-8 in tags is refused, in query strings, uploads and JSON bodies', async (t) => {
  for (const path of ['/api/data?tag=a:%FF', '/api/data?tag=a:%C3', '/api/data?tag=%ED%A0%80:x', '/api/plans?in=a:%E2%82']) {
    const r = await raw(api, 'GET', path);
    await expect400(t, r, /^(tag|in)$/, path);
  }
  const tar = await craftTar([{ name: 'a.txt', type: 'file', content: 'a' }]);
  const up = await raw(api, 'POST', '/api/data?tag=a:%FF%FE', tar, { 'content-type': 'application/x-tar' });
  await expect400(t, up, 'tag', 'upload');
  const body = Buffer.concat([Buffer.from('{"add":["a:'), Buffer.from([0xff, 0xfe]), Buffer.from('"]}')]);
  const put = await raw(api, 'PUT', `/api/data/${dataId}/tags`, body, { 'content-type': 'application/json' });
  await expect400(t, put, 'add[0]', 'JSON body');
  t.regex(errorOf(put).message, /UTF-8.*offset 11/);
  // With a real U+FFFD elsewhere the bad string cannot be told apart: the body is named.
  const mixed = Buffer.concat([Buffer.from('{"remove":["a:\ufffd"],"add":["a:'), Buffer.from([0xff]), Buffer.from('"]}')]);
  const put2 = await raw(api, 'PUT', `/api/data/${dataId}/tags`, mixed, { 'content-type': 'application/json' });
  await expect400(t, put2, 'body', 'JSON body with a literal U+FFFD');
  const nul = await raw(api, 'GET', '/api/plans?image=busybox%00:1');
  await expect400(t, nul, 'image', 'NUL in a query parameter');
  // A well-formed non-ASCII tag still goes through.
  const good = await raw(api, 'GET', `/api/data?tag=${encodeURIComponent('städte:köln')}`);
  t.is(good.status, 200, good.body.toString());
});

test('bidi overrides and zero-width characters in tags are refused', async (t) => {
  for (const ch of ['\u202e', '\u2066', '\u200b', '\u200d', '\u2060', '\ufeff']) {
    const r = await raw(api, 'PUT', `/api/data/${dataId}/tags`, ...json({ add: [`a:b${ch}c`] }));
    await expect400(t, r, 'add[0]', `U+${ch.codePointAt(0)!.toString(16)}`);
    const q = await raw(api, 'GET', `/api/data?tag=${encodeURIComponent(`a${ch}:b`)}`);
    await expect400(t, q, /^tag(\[0\])?$/, `query U+${ch.codePointAt(0)!.toString(16)}`);
  }
});

test('an upload with a file name over 255 bytes or a path over 4096 bytes is refused naming the entry', async (t) => {
  const mtime = new Date();
  for (const [what, path] of [
    ['long name', `dir/${'n'.repeat(5000)}`],
    ['long multibyte name', 'é'.repeat(128)],
    ['long path', Array.from({ length: 20 }, () => 'd'.repeat(250)).join('/')],
  ] as const) {
    const tar = Buffer.concat([encodeHeader({ path, type: 'file', mode: 0o644, size: 0, mtime }), END_OF_ARCHIVE]);
    const r = await raw(api, 'POST', '/api/data', tar, { 'content-type': 'application/x-tar' });
    await expect400(t, r, 'body', what);
    t.regex(errorOf(r).message, /at most (255|4096) bytes/, what);
  }
  const list = await raw(api, 'GET', '/api/data');
  t.is((JSON.parse(list.body.toString()) as unknown[]).length, 1, 'only the fixture Data exists');
});
