import test from 'ava';
import { createHash, verify, type KeyObject } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import http, { request } from 'node:http';
import { join } from 'node:path';
import { KnitClient } from '../../client/knit-client.js';
import { startFakeGcs, type FakeGcs } from '../helpers/fake-gcs.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { spawnKnitd, type KnitdProcess } from '../helpers/knitd.js';
import { writeServiceAccountKey } from '../helpers/service-account.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Downloads by signed URL, against the real knitd executable on GCS (fake-gcs-server), signing
 * with a service-account key of the test's own. fake-gcs-server serves a signed URL's path and
 * ignores its signature, so the signature is checked here, with the key's public half, the way
 * GCS checks a V4 signature; and the client's GETs are seen going to the store through a
 * recording proxy, which stands as the configured endpoint.
 */
const BUCKET = 'knit-signed';
const PREFIX = 'sig/';

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function raw(url: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const errorOf = (r: Raw) => (JSON.parse(r.body.toString()) as { error: { code: string; message: string; field?: string } }).error;
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Forwards everything to fake-gcs-server, as its own host, and records each request's URL. */
async function recordingProxy(target: string): Promise<{ endpoint: string; seen: string[]; close(): Promise<void> }> {
  const to = new URL(target);
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    const out = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return {
    endpoint: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`,
    seen,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

/** RFC 3986 encoding, as V4 signing's canonical query string wants it. */
const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Checks a V4 signed URL's signature as GCS does: over the canonical request, with the public key. */
function verifyV4(signed: URL, publicKey: KeyObject): boolean {
  const params = [...signed.searchParams].filter(([k]) => k !== 'X-Goog-Signature');
  const query = params
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const signedHeaders = signed.searchParams.get('X-Goog-SignedHeaders');
  if (signedHeaders !== 'host') return false;
  const canonical = ['GET', signed.pathname, query, `host:${signed.hostname}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const date = signed.searchParams.get('X-Goog-Date')!;
  const scope = signed.searchParams.get('X-Goog-Credential')!.split('/').slice(1).join('/');
  const toSign = ['GOOG4-RSA-SHA256', date, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  return verify('sha256', Buffer.from(toSign), publicKey, Buffer.from(signed.searchParams.get('X-Goog-Signature')!, 'hex'));
}

let gcs: FakeGcs;
let proxy: Awaited<ReturnType<typeof recordingProxy>>;
let db: TestDatabase;
let home: { path: string; cleanup(): Promise<void> };
let publicKey: KeyObject;
let credentialsFile: string;
let signing: KnitdProcess;
let plain: KnitdProcess;
let clientEmail: string;

/** Both knitds share the database, bucket and prefix: the same Data, with and without signing. */
function knitdEnv(extra: Record<string, string>): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    KNIT_HOME: home.path,
    // No matcher to wake here: an address that refuses, so nothing is left on a shared Temporal.
    TEMPORAL_ADDRESS: '127.0.0.1:1',
    KNIT_STORAGE: 'gcs',
    KNIT_GCS_BUCKET: BUCKET,
    KNIT_GCS_PREFIX: PREFIX,
    KNIT_GCS_ENDPOINT: proxy.endpoint,
    KNIT_GCS_PROJECT: 'knit-test',
    GOOGLE_APPLICATION_CREDENTIALS: credentialsFile,
    ...extra,
  };
}

test.before(async () => {
  gcs = await startFakeGcs([BUCKET]);
  proxy = await recordingProxy(gcs.endpoint);
  db = await createTestDatabase();
  home = await tempDir('knit-signed-');
  const key = await writeServiceAccountKey(home.path);
  ({ publicKey, clientEmail, file: credentialsFile } = key);
  signing = await spawnKnitd(knitdEnv({ KNIT_GCS_SIGNED_URLS: 'true' }));
  plain = await spawnKnitd(knitdEnv({}));
});
test.after.always(async () => {
  await signing?.stop();
  await plain?.stop();
  await proxy?.close();
  await gcs?.stop();
  await db?.drop();
  await home?.cleanup();
});

async function push(files: Record<string, string>, tags: string[] = ['signed:url']) {
  const dir = await tempDir();
  try {
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir.path, name), content);
    return await new KnitClient({ server: signing.url }).pushDirectory(dir.path, tags);
  } finally {
    await dir.cleanup();
  }
}

const objectOf = (id: string) => gcs.storage.bucket(BUCKET).file(`${PREFIX}data/${id}`);

test('asked, knitd redirects to a V4 URL signed with the key, at the configured endpoint, with the digest and size', async (t) => {
  const d = await push({ a: 'signed bytes\n' });
  const r = await raw(`${signing.url}/api/data/${d.id}/content`, { 'x-knit-accept-redirect': 'signed-url' });
  t.is(r.status, 307);
  t.is(r.headers['x-knit-digest'], d.digest!);
  t.is(r.headers['x-knit-size'], String(d.size));
  t.is(r.headers['cache-control'], 'no-store');
  const url = new URL(r.headers.location!);
  t.is(url.origin, proxy.endpoint);
  t.true(url.pathname.startsWith(`/${BUCKET}/${PREFIX}`), url.pathname);
  t.true(url.pathname.includes(d.id), url.pathname);
  t.is(url.searchParams.get('X-Goog-Algorithm'), 'GOOG4-RSA-SHA256');
  t.is(url.searchParams.get('X-Goog-Expires'), '300');
  t.true(url.searchParams.get('X-Goog-Credential')!.startsWith(`${clientEmail}/`));
  t.true(verifyV4(url, publicKey), 'the signature verifies with the public key');
  const tampered = new URL(url);
  tampered.pathname = tampered.pathname.replace(d.id, '00000000-0000-0000-0000-000000000000');
  t.false(verifyV4(tampered, publicKey), 'nor for another object');
  // The store serves the URL: the bytes are the archive knit recorded.
  const bytes = await raw(url.toString());
  t.is(bytes.status, 200);
  t.is(sha(bytes.body), d.digest!);
  t.is(bytes.body.length, d.size!);
});

test('not asked (curl, Knitfab CLI), or from a knitd that does not sign, the bytes come from knitd', async (t) => {
  const d = await push({ b: 'through knitd\n' });
  for (const [url, headers] of [
    [signing.url, {}],
    [plain.url, { 'x-knit-accept-redirect': 'signed-url' }],
  ] as const) {
    const r = await raw(`${url}/api/data/${d.id}/content`, headers);
    t.is(r.status, 200);
    t.is(r.headers['x-knit-digest'], d.digest!);
    t.is(r.headers.location, undefined);
    t.is(sha(r.body), d.digest!);
  }
  // knit's client pulls from the knitd that does not sign as before.
  const dest = await tempDir();
  t.teardown(() => dest.cleanup());
  const pulled = await new KnitClient({ server: plain.url }).pullData(d.id, dest.path);
  t.is(pulled.digest, d.digest!);
});

test('errors name the field: a bad header value is 400, an unknown Data 404, asked or not', async (t) => {
  const d = await push({ c: 'x' });
  const bad = await raw(`${signing.url}/api/data/${d.id}/content`, { 'x-knit-accept-redirect': 'yes' });
  t.is(bad.status, 400);
  t.is(errorOf(bad).field, 'x-knit-accept-redirect');
  t.regex(errorOf(bad).message, /^x-knit-accept-redirect: must be signed-url/);
  for (const headers of [{ 'x-knit-accept-redirect': 'signed-url' }, {}] as Array<Record<string, string>>) {
    const missing = await raw(`${signing.url}/api/data/00000000-0000-4000-8000-000000000000/content`, headers);
    t.is(missing.status, 404);
    t.is(errorOf(missing).field, 'id');
  }
});

test("knit's client pulls through the signed URL, from the store, and verifies the digest", async (t) => {
  const d = await push({ model: 'weights '.repeat(10_000) });
  const dest = await tempDir();
  t.teardown(() => dest.cleanup());
  const before = proxy.seen.length;
  const client = new KnitClient({ server: signing.url });
  const pulled = await client.pullData(d.id, dest.path, { extract: true });
  t.is(pulled.digest, d.digest!);
  t.is((await readdir(pulled.path)).join(), 'model');
  const fetched = proxy.seen.slice(before);
  t.true(
    fetched.some((u) => u.startsWith(`/${BUCKET}/${PREFIX}`) && u.includes(d.id) && u.includes('X-Goog-Signature=')),
    `the client's GET went to the store by the signed URL: ${fetched.join(' ')}`,
  );
  const { stream, digest } = await client.openData(d.id);
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  t.is(sha(Buffer.concat(parts)), digest);

  // A client told not to (it reaches knitd but not the bucket) gets the bytes from knitd.
  const through = proxy.seen.length;
  const direct = await new KnitClient({ server: signing.url, signedUrls: false }).pullData(d.id, join(dest.path, 'via-knitd'));
  t.is(direct.digest, d.digest!);
  // (Other tests run alongside and fetch their own Data by signed URL: only this Data's count.)
  const mine = proxy.seen.slice(through).filter((u) => u.includes(d.id));
  t.true(mine.some((u) => u.includes('alt=media')), `knitd read the object by the JSON API: ${mine.join(' ')}`);
  t.false(mine.some((u) => u.includes('X-Goog-Signature=')), mine.join(' '));
});

test('a corrupted or replaced object fails the pull by signed URL, and leaves nothing behind', async (t) => {
  const client = new KnitClient({ server: signing.url });
  const dest = await tempDir();
  t.teardown(() => dest.cleanup());

  // Same size, one byte flipped: only the digest can tell.
  const flipped = await push({ f: 'flip me\n' });
  const [original] = await objectOf(flipped.id).download();
  const corrupt = Buffer.from(original);
  corrupt[600] = corrupt[600]! ^ 0xff;
  await objectOf(flipped.id).save(corrupt);
  await t.throwsAsync(client.pullData(flipped.id, dest.path), { message: /content digest mismatch: expected sha256:/ });
  await t.throwsAsync(client.pullData(flipped.id, dest.path, { extract: true }), { message: /content digest mismatch/ });
  const { stream } = await client.openData(flipped.id);
  await t.throwsAsync(async () => {
    for await (const _ of stream) void _;
  }, { message: /content digest mismatch/ });

  // Another size: refused before a byte is taken.
  const replaced = await push({ r: 'replace me\n' });
  await objectOf(replaced.id).save(Buffer.alloc(512));
  await t.throwsAsync(client.pullData(replaced.id, dest.path), { message: new RegExp(`the blob store holds 512 bytes for data ${replaced.id}, knit recorded ${replaced.size}`) });

  // Gone from the store: the store's answer, named, without the signature.
  const gone = await push({ g: 'gone\n' });
  await objectOf(gone.id).delete();
  const err = await t.throwsAsync(client.pullData(gone.id, dest.path), { message: new RegExp(`^the signed URL of data ${gone.id}: .* answered HTTP 404`) });
  t.notRegex(err!.message, /X-Goog-Signature/);

  t.deepEqual(await readdir(dest.path), [], 'no staging leftovers');
});

test('knitd refuses to start with signed URLs on and credentials that cannot sign, naming the setting', async (t) => {
  const dir = await tempDir();
  t.teardown(() => dir.cleanup());
  const bad = await writeServiceAccountKey(dir.path, { privateKey: 'not a key' });
  const err = await t.throwsAsync(spawnKnitd(knitdEnv({ KNIT_GCS_SIGNED_URLS: 'true', GOOGLE_APPLICATION_CREDENTIALS: bad.file })));
  t.regex(err!.message, /env\.KNIT_GCS_SIGNED_URLS: these credentials cannot sign URLs/);
  const flag = await t.throwsAsync(spawnKnitd(knitdEnv({ KNIT_GCS_SIGNED_URLS: 'yes' })));
  t.regex(flag!.message, /KNIT_GCS_SIGNED_URLS.*must be true or false/);
});
