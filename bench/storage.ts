/**
 * Blob stores: push and pull of 1 GiB of Data through knit's API (the typed client against a
 * real knitd) with the blob store on the local folder and on GCS (fake-gcs-server, in memory),
 * in one run. Each store gets a knitd of its own, one after the other, so each knitd's peak RSS
 * is its own and the two never compete for the machine's cores.
 *
 * The pull drains the verified stream (size and digest checked) without writing it to disk, so
 * it measures knitd and the store rather than this disk. Everything is streamed: knitd holds no
 * more than its buffers, which the peak RSS shows. On GCS each round also pulls by signed URL
 * (KNIT_GCS_SIGNED_URLS, a key of the bench's own), which takes knitd out of the bytes' path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { KnitClient } from '../client/knit-client.js';
import { startFakeGcs, type FakeGcs } from '../test/helpers/fake-gcs.js';
import { writeServiceAccountKey } from '../test/helpers/service-account.js';
import { freshDatabase } from './lib/database.js';
import { peakRss } from './lib/proc.js';
import { endWorkflows } from './lib/stack.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const MiB = 1 << 20;
const FILES = 8;
const FILE_BYTES = 128 * MiB;
const ROUNDS = Number(process.env['KNIT_BENCH_ROUNDS'] ?? 3);
/** The whole bench is bounded: a store this slow is a finding in itself, not something to wait out. */
const DEADLINE_MS = Number(process.env['KNIT_BENCH_DEADLINE_MS'] ?? 15 * 60_000);
const BUCKET = 'knit-bench';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** FILES random (incompressible) files, written in 4 MiB chunks: the bench never holds 1 GiB. */
function makeTree(dir: string): number {
  mkdirSync(dir, { recursive: true });
  const chunk = randomBytes(4 * MiB);
  for (let i = 0; i < FILES; i++) {
    const fd = openSync(join(dir, `f${i}.bin`), 'w');
    // A different salt per file, so no two files are equal.
    writeSync(fd, randomBytes(16));
    for (let left = FILE_BYTES - 16; left > 0; ) {
      const n = Math.min(left, chunk.length);
      writeSync(fd, chunk, (i * 7919) % (chunk.length - n + 1), n);
      left -= n;
    }
    closeSync(fd);
  }
  return FILES * FILE_BYTES;
}

function startKnitd(env: NodeJS.ProcessEnv): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [join(root, 'bin/knitd.js')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      const m = /^knitd listening on (\S+)/.exec(l);
      if (m) resolve({ proc, url: m[1]! });
    });
    proc.once('exit', (c) => reject(new Error(`knitd exited (${c})`)));
  });
}

async function stopKnitd(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await gone;
}

const seconds = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e9;

interface StoreResult {
  store: string;
  pushS: number;
  pullS: number;
  /** Pulls by signed URL, where the store signs. */
  signedPullS?: number;
  knitdPeakRss: number;
  /** fake-gcs-server's own peak, for GCS: it keeps the objects in memory. */
  serverPeakRss?: number;
}

/** Drains Data `id` through the client's verifying stream; seconds taken. */
async function pullOnce(client: KnitClient, id: string, what: string): Promise<number> {
  const t = process.hrtime.bigint();
  const { stream, size } = await client.openData(id);
  let got = 0;
  await pipeline(stream, new Writable({ write: (c: Buffer, _e, cb) => ((got += c.length), cb()) }));
  if (got !== size) throw new Error(`${what}: pulled ${got} bytes, expected ${size}`);
  return seconds(t);
}

/** ROUNDS pushes and pulls of `src` through one knitd on the store `storeEnv` describes. */
async function measure(store: string, src: string, bytes: number, work: string, storeEnv: Record<string, string>, afterRound: (dataId: string) => Promise<void>): Promise<StoreResult> {
  const signs = storeEnv['KNIT_GCS_SIGNED_URLS'] === 'true';
  const database = await freshDatabase();
  const instance = `benchstorage${process.pid}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: database.url,
    KNIT_HOME: join(work, `home-${store}`),
    // knitd wakes the matcher of its instance on every push; an instance of the bench's own,
    // ended afterwards, leaves nothing on a shared Temporal.
    KNIT_INSTANCE: instance,
    KNIT_LISTEN: '127.0.0.1:0',
    KNIT_LOG_LEVEL: 'warn',
    ...storeEnv,
  };
  const knitd = await startKnitd(env);
  try {
    // Through knitd, even where the store signs; then, where it does, by signed URL.
    const viaKnitd = new KnitClient({ server: knitd.url, signedUrls: false });
    const viaStore = new KnitClient({ server: knitd.url });
    const push: number[] = [];
    const pull: number[] = [];
    const signedPull: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const t = process.hrtime.bigint();
      const data = await viaKnitd.pushDirectory(src, ['bench:storage']);
      push.push(seconds(t));
      if (data.size === null || data.size < bytes) throw new Error(`${store}: pushed ${data.size} bytes, expected at least ${bytes}`);
      pull.push(await pullOnce(viaKnitd, data.id, store));
      if (signs) signedPull.push(await pullOnce(viaStore, data.id, `${store} by signed URL`));
      process.stderr.write(
        `  ${store} round ${round + 1}: push ${push.at(-1)!.toFixed(2)} s, pull ${pull.at(-1)!.toFixed(2)} s${signs ? `, pull by signed URL ${signedPull.at(-1)!.toFixed(2)} s` : ''}\n`,
      );
      await afterRound(data.id);
    }
    return { store, pushS: median(push), pullS: median(pull), ...(signs ? { signedPullS: median(signedPull) } : {}), knitdPeakRss: peakRss(knitd.proc.pid!) ?? 0 };
  } finally {
    await stopKnitd(knitd.proc);
    await endWorkflows(process.env['TEMPORAL_ADDRESS'] ?? '127.0.0.1:7233', instance);
    await database.drop();
  }
}

async function main(): Promise<void> {
  const deadline = setTimeout(() => {
    process.stderr.write(`bench failed: not finished within ${DEADLINE_MS / 1000} s\n`);
    process.exit(1);
  }, DEADLINE_MS);
  deadline.unref();
  const work = join(process.env['KNIT_BENCH_DIR'] ?? tmpdir(), `knit-bench-storage-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  let gcs: FakeGcs | undefined;
  try {
    const src = join(work, 'src');
    process.stderr.write(`generating ${FILES} files of ${FILE_BYTES / MiB} MiB in ${src}…\n`);
    const bytes = makeTree(src);
    const results: StoreResult[] = [];

    results.push(await measure('local', src, bytes, work, { KNIT_STORAGE: 'local' }, async () => {}));

    gcs = await startFakeGcs([BUCKET]);
    const fake = gcs;
    mkdirSync(work, { recursive: true });
    const key = await writeServiceAccountKey(work);
    const gcsEnv = { KNIT_STORAGE: 'gcs', KNIT_GCS_BUCKET: BUCKET, KNIT_GCS_ENDPOINT: fake.endpoint, KNIT_GCS_PROJECT: 'knit-bench', KNIT_GCS_SIGNED_URLS: 'true', GOOGLE_APPLICATION_CREDENTIALS: key.file };
    const gcsResult = await measure('gcs', src, bytes, work, gcsEnv, async () => {
      // fake-gcs-server keeps objects in memory: once pulled, a round's object goes, so it holds one at a time.
      const [files] = await fake.storage.bucket(BUCKET).getFiles();
      for (const f of files) await f.delete();
    });
    results.push({ ...gcsResult, serverPeakRss: peakRss(fake.pid) ?? 0 });

    const rate = (s: number) => bytes / s / 1e6;
    const rows = results.map((r) => ({
      store: r.store,
      pushMBps: rate(r.pushS),
      pullMBps: rate(r.pullS),
      pushS: r.pushS,
      pullS: r.pullS,
      ...(r.signedPullS !== undefined ? { signedPullMBps: rate(r.signedPullS), signedPullS: r.signedPullS } : {}),
      knitdPeakRssMB: r.knitdPeakRss / 1e6,
      ...(r.serverPeakRss !== undefined ? { fakeGcsPeakRssMB: r.serverPeakRss / 1e6 } : {}),
    }));
    const result = { bench: 'storage', bytes, files: FILES, rounds: ROUNDS, database: process.env['DATABASE_URL'] ? 'PostgreSQL' : 'embedded PGlite', stores: rows };
    const num = (n: number, w: number) => n.toFixed(0).padStart(w);
    const secs = (n: number) => `(${n.toFixed(2).padStart(6)})`;
    const lines = [
      `storage bench: ${(bytes / 1e6).toFixed(0)} MB in ${FILES} files through knitd's API, medians of ${ROUNDS} rounds (database: ${result.database})`,
      `  store                  push MB/s  (s)       pull MB/s  (s)       knitd peak RSS`,
      ...rows.flatMap((r) => [
        `  ${r.store.padEnd(21)}  ${num(r.pushMBps, 9)}  ${secs(r.pushS)}  ${num(r.pullMBps, 9)}  ${secs(r.pullS)}  ${num(r.knitdPeakRssMB, 8)} MB` +
          (r.fakeGcsPeakRssMB !== undefined ? `  (fake-gcs-server: ${r.fakeGcsPeakRssMB.toFixed(0)} MB, objects in memory)` : ''),
        ...(r.signedPullMBps !== undefined
          ? [`  ${`${r.store}, by signed URL`.padEnd(21)}  ${'-'.padStart(9)}  ${' '.repeat(8)}  ${num(r.signedPullMBps, 9)}  ${secs(r.signedPullS!)}  (bytes from the store, not knitd)`]
          : []),
      ]),
    ];
    process.stdout.write(`${lines.join('\n')}\n${JSON.stringify(result)}\n`);
    writeFileSync(join(root, 'bench', 'last-storage.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await gcs?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
