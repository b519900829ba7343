import test from 'ava';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
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

async function pushKnitTar(tar: Buffer): Promise<string> {
  const res = await fetch(new URL('/api/data', api.url), { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-tar' }, body: tar });
  if (res.status !== 201) throw new Error(`push: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

// Knitfab's extractor makes a file of every directory entry and an empty file of a hard link:
// the download leaves the first out and writes the second as a copy.
test('Knitfab\'s CLI pulls and extracts Data, hard links as copies, directories implied', async (t) => {
  const id = await pushKnitTar(
    await craftTar([
      { name: 'dir/', type: 'directory' },
      { name: 'dir/a.txt', type: 'file', content: 'alpha\n' },
      { name: 'dir/same.txt', type: 'link', linkname: 'dir/a.txt' },
      { name: 'again.txt', type: 'link', linkname: 'dir/a.txt' },
      { name: 'to-a', type: 'symlink', linkname: 'dir/a.txt' },
    ]),
  );
  const pulled = await kf.run(['data', 'pull', '-x', id, 'out']);
  t.is(pulled.code, 0, pulled.stderr);
  const root = join(kf.dir, 'out', id);
  t.is(await readFile(join(root, 'dir', 'a.txt'), 'utf8'), 'alpha\n');
  t.is(await readFile(join(root, 'dir', 'same.txt'), 'utf8'), 'alpha\n');
  t.is(await readFile(join(root, 'again.txt'), 'utf8'), 'alpha\n');
  t.is(await readlink(join(root, 'to-a')), 'dir/a.txt');

  const archive = await kf.run(['data', 'pull', id, 'gz']);
  t.is(archive.code, 0, archive.stderr);
  const listed = execFileSync('tar', ['-tzvf', join(kf.dir, 'gz', `${id}.tar.gz`)], { encoding: 'utf8' }).trim().split('\n');
  t.false(listed.some((l) => l.startsWith('d')), listed.join('\n'));
  t.is(listed.length, 4);
});

test('a Data pushed by Knitfab\'s CLI pulls back the same through it and through knit\'s own client', async (t) => {
  const dir = join(kf.dir, 'round');
  await mkdir(join(dir, 'x', 'y'), { recursive: true });
  await writeFile(join(dir, 'x', 'y', 'deep.bin'), Buffer.from([0, 1, 2, 255]));
  await writeFile(join(dir, 'top.txt'), 'top\n');
  const pushed = KfDataDetail.parse(parseJson(await kf.run(['data', 'push', '-t', 'round:trip', 'round'])));
  const viaKf = await kf.run(['data', 'pull', '-x', pushed.knitId, 'back']);
  t.is(viaKf.code, 0, viaKf.stderr);
  t.deepEqual(await readFile(join(kf.dir, 'back', pushed.knitId, 'x', 'y', 'deep.bin')), Buffer.from([0, 1, 2, 255]));
  const mine = await api.client.pullData(pushed.knitId, join(kf.dir, 'mine'), { extract: true });
  t.is(await readFile(join(mine.path, 'top.txt'), 'utf8'), 'top\n');
});

test.serial('a corrupted stored archive fails Knitfab\'s pull instead of handing over wrong bytes', async (t) => {
  const id = await pushKnitTar(await craftTar([{ name: 'f.txt', type: 'file', content: 'original content\n' }]));
  const { rows } = await api.db.pool.query<{ blob_key: string }>('SELECT blob_key FROM data WHERE id = $1', [id]);
  const key = rows[0]!.blob_key;
  const chunks: Buffer[] = [];
  for await (const c of await api.store.get(key)) chunks.push(c as Buffer);
  const bytes = Buffer.concat(chunks);
  bytes.write('ORIGINAL', bytes.indexOf('original'));
  await api.store.put(key, Readable.from([bytes]));
  const r = await kf.run(['data', 'pull', '-x', id, 'corrupt']);
  t.not(r.code, 0, r.stdout);
});

// Knitfab's CLI dereferences on the client; knitd stores what it sends like any other push. (v1.6.1
// takes only the long flag: its -L is read as a path.)
test('Knitfab\'s CLI data push --dereference stores the targets of symlinks, through knitd', async (t) => {
  await mkdir(join(kf.dir, 'elsewhere'), { recursive: true });
  await writeFile(join(kf.dir, 'elsewhere', 'w.bin'), 'weights\n');
  const dir = join(kf.dir, 'with-links');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'own.txt'), 'own\n');
  await symlink(join(kf.dir, 'elsewhere', 'w.bin'), join(dir, 'w.bin'));
  const pushed = await kf.run(['data', 'push', '--dereference', '-t', 'links:kf', 'with-links']);
  t.is(pushed.code, 0, pushed.stderr);
  const data = KfDataDetail.parse(parseJson(pushed));
  const mine = await api.client.pullData(data.knitId, join(kf.dir, 'links-back'), { extract: true });
  t.is(await readFile(join(mine.path, 'w.bin'), 'utf8'), 'weights\n');
  t.false((await lstat(join(mine.path, 'w.bin'))).isSymbolicLink());
});
