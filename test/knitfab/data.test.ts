import test from 'ava';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { KfDataDetail } from '../../api/knitfab/shapes.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { parseJson } from '../helpers/cli.js';
import { knitfabProject, type KnitfabProject } from '../helpers/knitfab-cli.js';
import { craftTar } from '../helpers/tar.js';

const TOKEN = 'knitfab-compat-token';
let api: TestApi;
let kf: KnitfabProject;
test.before(async () => {
  api = await startTestApi({ token: TOKEN });
  kf = await knitfabProject(api.url, TOKEN);
});
test.after.always(async () => {
  await kf?.close();
  await api?.close();
});

const dataCount = async () => Number((await api.db.pool.query('SELECT count(*) AS n FROM data')).rows[0].n);

// Knitfab's own CLI (v1.6.1, unmodified) pushes, finds and tags Data on knitd. (The serial test
// counts Data, so it runs before this one.)
test('Knitfab\'s CLI pushes a directory, finds it by tag and changes its tags', async (t) => {
  const dir = join(kf.dir, 'train-set');
  await mkdir(join(dir, 'sub'), { recursive: true });
  await writeFile(join(dir, 'a.csv'), 'x,y\n1,2\n');
  await writeFile(join(dir, 'sub', 'b.txt'), 'deep\n');

  const pushed = await kf.run(['data', 'push', '-t', 'project:kf', '-t', 'type:dataset', '-n', 'train-set']);
  t.is(pushed.code, 0, pushed.stderr);
  const data = KfDataDetail.parse(parseJson(pushed));
  t.true(data.tags.includes('project:kf') && data.tags.includes('type:dataset') && data.tags.includes('name:train-set'), data.tags.join(' '));
  t.true(data.tags.includes(`knit#id:${data.knitId}`));
  t.is(data.upstream.run.plan.name, 'knit#uploaded');

  // The same Data through knit's own API: the files as pushed.
  const mine = await api.client.findData({ tags: [`knit#id:${data.knitId}`] });
  t.is(mine.length, 1);

  const found = await kf.run(['data', 'find', '-t', 'project:kf']);
  t.is(found.code, 0, found.stderr);
  t.deepEqual(parseJson<Array<{ knitId: string }>>(found).map((d) => d.knitId), [data.knitId]);

  const tagged = await kf.run(['data', 'tag', '--add', 'stage:clean', '--remove', 'type:dataset', data.knitId]);
  t.is(tagged.code, 0, tagged.stderr);
  const after = await kf.run(['data', 'find', '-t', 'stage:clean']);
  const tags = parseJson<Array<{ tags: string[] }>>(after)[0]!.tags;
  t.true(tags.includes('stage:clean'));
  t.false(tags.includes('type:dataset'));

  const none = await kf.run(['data', 'find', '-t', 'project:nothing']);
  t.is(none.code, 0);
  t.deepEqual(parseJson(none), []);
});

test('a wrong token in the profile is refused, and the CLI says so', async (t) => {
  const wrong = await knitfabProject(api.url, 'not-the-token');
  t.teardown(() => wrong.close());
  const r = await wrong.run(['data', 'find', '-t', 'a:b']);
  t.is(r.code, 1);
  t.regex(r.stderr, /wrong bearer token/);
});

function post(path: string, body: Buffer, headers: Record<string, string>, trailers?: Record<string, string>): Promise<{ status: number; body: { message: string } }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, api.url), { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'transfer-encoding': 'chunked', ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.write(body);
    if (trailers) req.addTrailers(trailers);
    req.end();
  });
}

test.serial('an upload whose MD5 trailer does not match, or that is not gzip, is refused in Knitfab\'s error shape and keeps nothing', async (t) => {
  const before = await dataCount();
  const gz = gzipSync(await craftTar([{ name: 'f', type: 'file', content: 'content\n' }]));
  const bad = await post('/knitfab/api/data', gz, { 'content-type': 'application/tar+gzip' }, { 'x-checksum-md5': 'ffffffffffffffffffffffffffffffff' });
  t.is(bad.status, 400);
  t.regex(bad.body.message, /^bad request\nx-checksum-md5: hash is not match/);
  const notGzip = await post('/knitfab/api/data', await craftTar([{ name: 'f', type: 'file', content: 'x' }]), { 'content-type': 'application/tar+gzip' });
  t.is(notGzip.status, 400);
  t.regex(notGzip.body.message, /^bad request\nbody: is not a whole gzip stream/);
  t.is(await dataCount(), before);
  // The right MD5 is taken.
  const good = await post('/knitfab/api/data', gz, { 'content-type': 'application/tar+gzip' }, { 'x-checksum-md5': createHash('md5').update(gz).digest('hex') });
  t.is(good.status, 200);
  t.is(await dataCount(), before + 1);
});

test('unknown routes and bad queries under the Knitfab prefix answer in its error shape, naming the field', async (t) => {
  const get = async (path: string) => {
    const res = await fetch(new URL(path, api.url), { headers: { authorization: `Bearer ${TOKEN}` } });
    return { status: res.status, body: (await res.json()) as { message: string } };
  };
  const missing = await get('/knitfab/api/nothing-here');
  t.is(missing.status, 404);
  t.is(missing.body.message, 'Not Found');
  const badDuration = await get('/knitfab/api/data?since=2026-01-01T00:00:00Z&duration=forever');
  t.is(badDuration.status, 400);
  t.regex(badDuration.body.message, /duration: must be a Go duration/);
  const goDuration = await get('/knitfab/api/data?since=2026-01-01T00:00:00Z&duration=24h0m0s');
  t.is(goDuration.status, 200);
});
