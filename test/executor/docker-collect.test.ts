import test, { type ExecutionContext } from 'ava';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extractArchive } from '../../core/archive/extract.js';
import { WorkerProcessEnv } from '../../executor/config.js';
import type { StoredContent } from '../../core/run/attempt.js';
import type { AttemptContext } from '../../core/run/model.js';
import { roundTrips } from '../../core/metrics/round-trips.js';
import { LocalBlobStore } from '../../core/storage/local-store.js';
import { chunksOf } from '../../core/streams/chunks.js';
import type { VolumeIo } from '../../executor/docker/config.js';
import { DockerExecutor } from '../../executor/docker/docker-executor.js';
import { DockerEngine } from '../../executor/docker/engine.js';
import { isolationSettings } from '../../executor/docker/isolation.js';
import { TEST_IMAGE } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

const ARCHIVE_CALL = 'GET /containers/{name}/archive';
const archiveCalls = () => roundTrips().docker[ARCHIVE_CALL] ?? 0;

/** A Docker executor of a fresh instance, a run of `script` with two outputs, and a store to collect into; all removed when the test ends. */
async function attemptOf(t: ExecutionContext, script: string, io: VolumeIo) {
  const dir = await tempDir();
  const store = new LocalBlobStore(join(dir.path, 'store'));
  const executor = new DockerExecutor({
    docker: new DockerEngine(),
    store,
    instance: `knit-col-${randomBytes(3).toString('hex')}`,
    workdir: join(dir.path, 'work'),
    pullTimeoutMs: 10_000,
    isolation: isolationSettings(WorkerProcessEnv.parse({ DATABASE_URL: 'unused' })),
    volumeIo: io,
  });
  const ctx: AttemptContext = {
    runId: randomUUID(), attempt: 1, planId: randomUUID(), image: TEST_IMAGE, entrypoint: ['sh', '-c'], args: [script], resources: {},
    onNode: { may: [], prefer: [], must: [] }, serviceAccount: null, network: false,
    inputs: [],
    outputs: [
      { idx: 0, path: '/out/a', dataId: randomUUID() },
      { idx: 1, path: '/out/b', dataId: randomUUID() },
    ],
    log: { dataId: randomUUID() },
  };
  t.teardown(async () => {
    await executor.release(ctx);
    await dir.cleanup();
  });
  await executor.stage(ctx, () => {});
  await executor.create(ctx, () => {});
  return { executor, store, ctx, dir };
}

async function treeOf(store: LocalBlobStore, dir: string, content: StoredContent): Promise<Record<string, string>> {
  const out = join(dir, `tree-${randomUUID()}`);
  await mkdir(out);
  await extractArchive(chunksOf(await store.get(content.blobKey)), out);
  const files: Record<string, string> = {};
  for (const name of (await readdir(out)).sort()) files[name] = await readFile(join(out, name), 'utf8');
  return files;
}

const collectedAsRun = test.macro(async (t, io: VolumeIo, viaEngine: boolean) => {
  // b gets a symlink out of the Data and a FIFO: reading either through the host folder would
  // reach the host's file or hang; both must only be named and refused.
  const { executor, store, ctx, dir } = await attemptOf(t, 'echo one > /out/a/x; echo two > /out/a/y; ln -s /etc/passwd /out/b/leak; mkfifo /out/b/pipe', io);
  await executor.start(ctx);
  t.deepEqual(await executor.wait(ctx, AbortSignal.timeout(60_000)), { exitCode: 0 });
  const before = archiveCalls();
  const got = await executor.collect(ctx, () => {});
  t.is(archiveCalls() - before, viaEngine ? 2 : 0, viaEngine ? 'through the engine, one archive call per output' : 'read from the volumes\' folders');
  t.deepEqual(await treeOf(store, dir.path, got.contents[0]!), { x: 'one\n', y: 'two\n' });
  t.deepEqual(await treeOf(store, dir.path, got.contents[1]!), {}, 'stored empty');
  t.is(got.problems.length, 1);
  t.regex(got.problems[0]!, /^output \/out\/b was not stored: /);
});
test.serial('auto: outputs of an exited container are read from their volumes\' folders; a symlink out and a FIFO are refused, not followed or opened', collectedAsRun, 'auto', false);
test.serial('engine: outputs go through the engine\'s archive call, with the same result', collectedAsRun, 'engine', true);

test.serial('auto: a container still running is collected through the engine, never from its folders (it could still change the tree)', async (t) => {
  const { executor, store, ctx, dir } = await attemptOf(t, 'echo early > /out/a/x; echo ready; trap "exit 0" TERM; while :; do sleep 1; done', 'auto');
  await executor.start(ctx);
  const said = async () => {
    for await (const lines of executor.logs(ctx, { follow: false })) if (lines.some((l) => l.text === 'ready')) return true;
    return false;
  };
  for (let i = 0; i < 200 && !(await said()); i++) await new Promise((r) => setTimeout(r, 50));
  t.is((await executor.state(ctx)).phase, 'running');
  const before = archiveCalls();
  const got = await executor.collect(ctx, () => {});
  t.is(archiveCalls() - before, 2);
  t.deepEqual(await treeOf(store, dir.path, got.contents[0]!), { x: 'early\n' });
  await executor.stop(ctx, 1);
});

test.serial('auto: a container that never started has empty outputs, read from its empty volumes', async (t) => {
  const { executor, store, ctx, dir } = await attemptOf(t, 'true', 'auto');
  const before = archiveCalls();
  const got = await executor.collect(ctx, () => {});
  t.is(archiveCalls() - before, 0);
  t.deepEqual(got.problems, []);
  for (const c of got.contents) t.deepEqual(await treeOf(store, dir.path, c), {});
});
