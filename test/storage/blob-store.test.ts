import test from 'ava';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { BlobNotFoundError, type BlobStore } from '../../core/storage/blob-store.js';
import { openBlobStore } from '../../core/storage/factory.js';
import { startFakeGcs, type FakeGcs } from '../helpers/fake-gcs.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The blob store contract, word for word against the local folder and GCS (on fake-gcs-server),
 * each built by the one factory the API and the worker use.
 */
let gcs: FakeGcs;
let dir: { path: string; cleanup(): Promise<void> };
const stores = new Map<string, BlobStore>();

test.before(async () => {
  gcs = await startFakeGcs(['knit-contract']);
  dir = await tempDir('knit-store-');
  const base = { KNIT_HOME: dir.path, KNIT_STORAGE_DIR: undefined, KNIT_GCS_BUCKET: undefined, KNIT_GCS_PREFIX: '', KNIT_GCS_ENDPOINT: undefined, KNIT_GCS_PROJECT: undefined } as const;
  stores.set('local', openBlobStore({ ...base, KNIT_STORAGE: 'local' }));
  stores.set('gcs', openBlobStore({ ...base, KNIT_STORAGE: 'gcs', KNIT_GCS_BUCKET: 'knit-contract', KNIT_GCS_PREFIX: 'team-a/', KNIT_GCS_ENDPOINT: gcs.endpoint, KNIT_GCS_PROJECT: 'knit-test' }));
});
test.after.always(async () => {
  await gcs?.stop();
  await dir?.cleanup();
});

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
async function read(store: BlobStore, key: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of await store.get(key)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
/** A body that sends some bytes and then fails, as a client that drops mid-upload. */
function failing(): Readable {
  return new Readable({
    read() {
      this.push(Buffer.alloc(64 * 1024, 7));
      this.destroy(new Error('the client went away'));
    },
  });
}

for (const kind of ['local', 'gcs']) {
  const store = () => stores.get(kind)!;

  test(`${kind}: put streams an object in and reports its size and SHA-256; get gives back the same bytes`, async (t) => {
    const body = Buffer.concat([Buffer.alloc(3 * 1024 * 1024, 1), Buffer.from('tail')]);
    const info = await store().put(`data/${kind}-a`, Readable.from([body.subarray(0, 1 << 20), body.subarray(1 << 20)]));
    t.deepEqual(info, { key: `data/${kind}-a`, size: body.length, digest: sha(body) });
    t.true((await read(store(), `data/${kind}-a`)).equals(body));
    const st = await store().stat(`data/${kind}-a`);
    t.is(st?.size, body.length);
    t.true(st!.modified instanceof Date && !Number.isNaN(st!.modified.getTime()));
  });

  test(`${kind}: an interrupted put leaves nothing new: no object, or the previous one whole`, async (t) => {
    await t.throwsAsync(store().put(`data/${kind}-never`, failing()), { message: /went away/ });
    t.is(await store().stat(`data/${kind}-never`), undefined);
    await store().put(`data/${kind}-kept`, Readable.from([Buffer.from('first')]));
    await t.throwsAsync(store().put(`data/${kind}-kept`, failing()));
    t.is((await read(store(), `data/${kind}-kept`)).toString(), 'first');
    const replaced = await store().put(`data/${kind}-kept`, Readable.from([Buffer.from('second')]));
    t.is(replaced.size, 6);
    t.is((await read(store(), `data/${kind}-kept`)).toString(), 'second');
  });

  test(`${kind}: list finds the objects under a prefix; delete is idempotent; a missing object is BlobNotFoundError`, async (t) => {
    for (const k of ['runs/r1/a1/live/0000000000', 'runs/r1/a1/live/0000000001', 'runs/r2/a1/live/0000000000']) await store().put(`${kind}/${k}`, Readable.from([Buffer.from(k)]));
    const keys: string[] = [];
    for await (const e of store().list(`${kind}/runs/r1/`)) keys.push(e.key);
    t.deepEqual(keys.sort(), [`${kind}/runs/r1/a1/live/0000000000`, `${kind}/runs/r1/a1/live/0000000001`]);
    await store().delete(`${kind}/runs/r1/a1/live/0000000000`);
    await store().delete(`${kind}/runs/r1/a1/live/0000000000`);
    t.is(await store().stat(`${kind}/runs/r1/a1/live/0000000000`), undefined);
    await t.throwsAsync(store().get(`${kind}/runs/nothing`), { instanceOf: BlobNotFoundError });
  });

  test(`${kind}: a key that is not a plain relative path is refused before anything is written`, async (t) => {
    for (const bad of ['../escape', '/abs', 'a//b', 'a/./b']) await t.throwsAsync(store().put(bad, Readable.from([Buffer.from('x')])), { message: /invalid blob key/ }, bad);
  });
}

test('gcs: the bucket is required, and the prefix keeps knits of one bucket apart', async (t) => {
  const base = { KNIT_HOME: dir.path, KNIT_STORAGE_DIR: undefined, KNIT_GCS_PREFIX: '', KNIT_GCS_ENDPOINT: gcs.endpoint, KNIT_GCS_PROJECT: 'knit-test' } as const;
  t.throws(() => openBlobStore({ ...base, KNIT_STORAGE: 'gcs', KNIT_GCS_BUCKET: undefined }), { message: /^KNIT_GCS_BUCKET: must be set with KNIT_STORAGE=gcs/ });
  const other = openBlobStore({ ...base, KNIT_STORAGE: 'gcs', KNIT_GCS_BUCKET: 'knit-contract', KNIT_GCS_PREFIX: 'team-b/' });
  await other.put('data/shared-name', Readable.from([Buffer.from('b')]));
  t.is(await stores.get('gcs')!.stat('data/shared-name'), undefined, "team-a's store does not see team-b's object");
  const [raw] = await gcs.storage.bucket('knit-contract').getFiles({ prefix: 'team-b/' });
  t.deepEqual(raw.map((f) => f.name), ['team-b/data/shared-name']);
});
