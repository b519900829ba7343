import test, { type ExecutionContext } from 'ava';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerEngine } from '../../executor/docker/engine.js';
import { STRICT_ISOLATION } from '../../executor/docker/isolation.js';
import { extractArchive } from '../../core/archive/extract.js';
import { packDirectory, planPack } from '../../core/archive/pack.js';
import type { AttemptContext } from '../../core/run/model.js';
import { chunksOf } from '../../core/streams/chunks.js';
import { AttemptVolumes } from '../../executor/docker/attempt-volumes.js';
import { runsAsRoot } from '../../executor/docker/docker-executor.js';
import { TEST_IMAGE } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/** A fresh instance's volumes and an attempt of it, with these inputs and outputs. */
function attempt(inputs: AttemptContext['inputs']) {
  const docker = new DockerEngine();
  const instance = `knit-vol-${randomBytes(3).toString('hex')}`;
  const labels = { 'knit.instance': instance };
  const volumes = new AttemptVolumes(docker, instance);
  const ctx: AttemptContext = {
    runId: randomUUID(), attempt: 1, planId: randomUUID(), image: TEST_IMAGE, entrypoint: null, args: null, resources: {},
    onNode: { may: [], prefer: [], must: [] }, serviceAccount: null, network: false,
    inputs,
    outputs: [{ idx: 0, path: '/out/model', dataId: randomUUID() }],
    log: { dataId: randomUUID() },
  };
  return { docker, instance, labels, volumes, ctx };
}

/** An attempt with one input, and folders for its source and what is collected; all removed when the test ends. */
async function attemptWithInput(t: ExecutionContext) {
  const a = attempt([{ idx: 0, path: '/in/data', dataId: randomUUID(), blobKey: 'unused', digest: 'unused', size: 0 }]);
  const src = await tempDir();
  const dst = await tempDir();
  t.teardown(async () => {
    await a.docker.remove(`${a.instance}-probe`);
    await a.volumes.remove(a.ctx);
    await src.cleanup();
    await dst.cleanup();
  });
  return { ...a, src, dst };
}

// The Docker adapter's files live in the engine, not on a worker's disk: staged through one
// client, used by a container, collected through another, with no host folder shared.
test('inputs staged into volumes are read-only to the run, outputs writable by any user and collected back', async (t) => {
  const { docker, instance, labels, volumes, ctx, src, dst } = await attemptWithInput(t);
  await mkdir(join(src.path, 'sub'));
  await writeFile(join(src.path, 'sub', 'x.txt'), 'input-bytes\n');
  await volumes.stage(ctx, labels, labels, { openOutputs: true }, async () => packDirectory(src.path, await planPack(src.path)));

  const id = await docker.create({
    name: `${instance}-probe`, image: TEST_IMAGE, labels, mounts: volumes.mounts(ctx, labels), isolation: { ...STRICT_ISOLATION, user: '1000' },
    entrypoint: ['sh', '-c'],
    cmd: ['cat /in/data/sub/x.txt > /out/model/copy.txt && (echo no > /in/data/new 2>/dev/null && echo writable || echo read-only) > /out/model/in-mode.txt'],
  });
  // Not root (user 1000): the output folder must still be writable.
  await docker.start(id);
  t.is(await docker.wait(id), 0);

  await extractArchive(chunksOf(await volumes.outputArchive(id, ctx, 0)), dst.path);
  t.is(await readFile(join(dst.path, 'copy.txt'), 'utf8'), 'input-bytes\n');
  t.is(await readFile(join(dst.path, 'in-mode.txt'), 'utf8'), 'read-only\n');
  t.deepEqual((await docker.listVolumes(labels)).length, 2);
});

test('a container running as root writes its outputs unopened; with no inputs nothing is staged at all, and the run container makes its volumes', async (t) => {
  const { docker, instance, labels, volumes, ctx } = attempt([]);
  const dst = await tempDir();
  t.teardown(async () => {
    await docker.remove(`${instance}-probe`);
    await volumes.remove(ctx);
    await dst.cleanup();
  });
  const creates: string[] = [];
  const counting = Object.assign(Object.create(docker) as DockerEngine, { create: (spec: Parameters<DockerEngine['create']>[0]) => (creates.push(spec.name ?? ''), docker.create(spec)) });
  await new AttemptVolumes(counting, instance).stage(ctx, labels, labels, { openOutputs: false }, async () => []);
  t.deepEqual(creates, [], 'no staging container');
  t.deepEqual(await docker.listVolumes(labels), [], 'and no call to make a volume');
  const id = await docker.create({ name: `${instance}-probe`, image: TEST_IMAGE, labels, mounts: volumes.mounts(ctx, labels), isolation: STRICT_ISOLATION, entrypoint: ['sh', '-c'], cmd: ['echo by-root > /out/model/x.txt'] });
  t.deepEqual(
    (await docker.listVolumes(labels)).map((v) => v.name),
    [volumes.output(ctx, 0)],
    'the container\'s create makes the output volume, with its labels',
  );
  await docker.start(id);
  t.is(await docker.wait(id), 0);
  await extractArchive(chunksOf(await volumes.outputArchive(id, ctx, 0)), dst.path);
  t.is(await readFile(join(dst.path, 'x.txt'), 'utf8'), 'by-root\n');
});

test('runsAsRoot: the image default, root and uid 0 are root; any other uid or name is not', (t) => {
  for (const user of ['', 'root', '0', '0:0', 'root:staff', ' 0 ']) t.true(runsAsRoot(user), user);
  for (const user of ['1000', '1000:0', 'ml', '65534:65534']) t.false(runsAsRoot(user), user);
});

test('a staging container left by a crashed try is replaced, not refused: the retry stages the inputs', async (t) => {
  const { docker, instance, labels, volumes, ctx, src, dst } = await attemptWithInput(t);
  const stagingName = volumes.stagingName(ctx);
  await docker.create({ name: stagingName, image: TEST_IMAGE, entrypoint: ['/knit-staging-never-runs'], labels });
  await writeFile(join(src.path, 'x.txt'), 'again\n');
  await volumes.stage(ctx, labels, labels, { openOutputs: false }, async () => packDirectory(src.path, await planPack(src.path)));
  // Removed in the background once the inputs are in.
  await waitFor('the staging container to be removed', async () => (await docker.inspect(stagingName)) === undefined, 10_000);
  const id = await docker.create({ name: `${instance}-probe`, image: TEST_IMAGE, labels, mounts: volumes.mounts(ctx, labels), isolation: STRICT_ISOLATION, entrypoint: ['sh', '-c'], cmd: ['cp /in/data/x.txt /out/model/'] });
  await docker.start(id);
  t.is(await docker.wait(id), 0);
  await extractArchive(chunksOf(await volumes.outputArchive(id, ctx, 0)), dst.path);
  t.is(await readFile(join(dst.path, 'x.txt'), 'utf8'), 'again\n');
  t.deepEqual((await docker.listVolumes(labels)).map((v) => v.name).sort(), [volumes.input(ctx, 0), volumes.output(ctx, 0)].sort(), 'both volumes carry the labels');
});
