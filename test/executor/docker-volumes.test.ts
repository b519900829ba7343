import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { chown, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerEngine } from '../../executor/docker/engine.js';
import { STRICT_ISOLATION } from '../../executor/docker/isolation.js';
import { extractArchive } from '../../core/archive/extract.js';
import { packDirectory, planPack } from '../../core/archive/pack.js';
import type { AttemptContext } from '../../core/run/model.js';
import { chunksOf } from '../../core/streams/chunks.js';
import { AttemptVolumes } from '../../executor/docker/attempt-volumes.js';
import type { VolumeIo } from '../../executor/docker/config.js';
import { emptyFolder, localVolumeFolder } from '../../executor/docker/volume-folder.js';
import { runsAsRoot } from '../../executor/docker/docker-executor.js';
import { TEST_IMAGE } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const execFileP = promisify(execFile);

/** A fresh instance's volumes and an attempt of it, with these inputs and outputs. */
function attempt(inputs: AttemptContext['inputs'], io: VolumeIo = 'engine') {
  const docker = new DockerEngine();
  const instance = `knit-vol-${randomBytes(3).toString('hex')}`;
  const labels = { 'knit.instance': instance };
  const volumes = new AttemptVolumes(docker, instance, io);
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
async function attemptWithInput(t: ExecutionContext, io: VolumeIo = 'engine', path = '/in/data') {
  const a = attempt([{ idx: 0, path, dataId: randomUUID(), blobKey: 'unused', digest: 'unused', size: 0 }], io);
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
const stagedAndCollected = test.macro(async (t, io: VolumeIo) => {
  const { docker, instance, labels, volumes, ctx, src, dst } = await attemptWithInput(t, io);
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
test('inputs staged into volumes are read-only to the run, outputs writable by any user and collected back (their folders filled directly)', stagedAndCollected, 'auto');
test('inputs staged into volumes are read-only to the run, outputs writable by any user and collected back (a staging container)', stagedAndCollected, 'engine');

test('a container running as root writes its outputs unopened; with no inputs nothing is staged at all, and the run container makes its volumes', async (t) => {
  const { docker, instance, labels, volumes, ctx } = attempt([], 'auto');
  const dst = await tempDir();
  t.teardown(async () => {
    await docker.remove(`${instance}-probe`);
    await volumes.remove(ctx);
    await dst.cleanup();
  });
  const creates: string[] = [];
  const counting = Object.assign(Object.create(docker) as DockerEngine, { create: (spec: Parameters<DockerEngine['create']>[0]) => (creates.push(spec.name ?? ''), docker.create(spec)) });
  await new AttemptVolumes(counting, instance, 'auto').stage(ctx, labels, labels, { openOutputs: false }, async () => []);
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

/** The engine, with each container create's name recorded and, when `elsewhere`, each volume's folder reported where this machine has none (as a remote engine's would be). */
function observed(docker: DockerEngine, opts: { elsewhere?: boolean } = {}) {
  const creates: string[] = [];
  const volumeCreates: string[] = [];
  const engine = Object.assign(Object.create(docker) as DockerEngine, {
    create: (spec: Parameters<DockerEngine['create']>[0]) => (creates.push(spec.name), docker.create(spec)),
    createVolume: async (name: string, labels: Record<string, string>) => {
      volumeCreates.push(name);
      const made = await docker.createVolume(name, labels);
      return opts.elsewhere ? { mountpoint: `/knit-test-remote-engine/volumes/${name}/_data` } : made;
    },
  });
  return { engine, creates, volumeCreates };
}

test('beside the engine, inputs go straight into the volume folders: no staging container, and a retry over a half-filled folder leaves exactly the archive', async (t) => {
  const { docker, instance, labels, ctx, src, dst } = await attemptWithInput(t, 'auto');
  const { engine, creates, volumeCreates } = observed(docker);
  const volumes = new AttemptVolumes(engine, instance, 'auto');
  await writeFile(join(src.path, 'x.txt'), 'direct\n');
  const archive = async () => packDirectory(src.path, await planPack(src.path));
  await volumes.stage(ctx, labels, labels, { openOutputs: true }, archive);
  t.deepEqual(creates, [], 'no staging container');
  t.deepEqual(volumeCreates.sort(), [volumes.input(ctx, 0), volumes.output(ctx, 0)].sort());
  const folder = (await docker.createVolume(volumes.input(ctx, 0), labels)).mountpoint;
  t.is(await readFile(join(folder, 'x.txt'), 'utf8'), 'direct\n');
  // A crashed try's leftovers: a file the archive does not have, and a half-written one.
  await writeFile(join(folder, 'stray.txt'), 'left behind');
  await writeFile(join(folder, 'x.txt'), 'dir');
  await volumes.stage(ctx, labels, labels, { openOutputs: true }, archive);
  const id = await docker.create({ name: `${instance}-probe`, image: TEST_IMAGE, labels, mounts: volumes.mounts(ctx, labels), isolation: { ...STRICT_ISOLATION, user: '1000' }, entrypoint: ['sh', '-c'], cmd: ['ls -A /in/data > /out/model/ls.txt && cat /in/data/x.txt >> /out/model/ls.txt'] });
  await docker.start(id);
  t.is(await docker.wait(id), 0);
  await extractArchive(chunksOf(await volumes.outputArchive(id, ctx, 0)), dst.path);
  t.is(await readFile(join(dst.path, 'ls.txt'), 'utf8'), 'x.txt\ndirect\n');
  t.deepEqual((await docker.listVolumes(labels)).map((v) => v.name).sort(), [volumes.input(ctx, 0), volumes.output(ctx, 0)].sort(), 'both volumes carry the labels');
});

test('when the volume folders are not on this machine, auto stages through a container, and later attempts go there without asking for folders', async (t) => {
  const { docker, instance, labels, ctx, src, dst } = await attemptWithInput(t, 'auto');
  const { engine, creates, volumeCreates } = observed(docker, { elsewhere: true });
  const volumes = new AttemptVolumes(engine, instance, 'auto');
  const second = { ...ctx, runId: randomUUID() };
  t.teardown(() => volumes.remove(second));
  await writeFile(join(src.path, 'x.txt'), 'via staging\n');
  const archive = async () => packDirectory(src.path, await planPack(src.path));
  await volumes.stage(ctx, labels, labels, { openOutputs: false }, archive);
  t.deepEqual(creates, [volumes.stagingName(ctx)]);
  t.deepEqual(volumeCreates, [volumes.input(ctx, 0)]);
  await volumes.stage(second, labels, labels, { openOutputs: false }, archive);
  t.deepEqual(creates, [volumes.stagingName(ctx), volumes.stagingName(second)]);
  t.deepEqual(volumeCreates, [volumes.input(ctx, 0)], 'no folder asked for again');
  const id = await docker.create({ name: `${instance}-probe`, image: TEST_IMAGE, labels, mounts: volumes.mounts(ctx, labels), isolation: STRICT_ISOLATION, entrypoint: ['sh', '-c'], cmd: ['cp /in/data/x.txt /out/model/'] });
  await docker.start(id);
  t.is(await docker.wait(id), 0);
  await extractArchive(chunksOf(await volumes.outputArchive(id, ctx, 0)), dst.path);
  t.is(await readFile(join(dst.path, 'x.txt'), 'utf8'), 'via staging\n');
});

/** The test image with a file at /data/from-image, made by committing a container: no registry, no build. */
async function imageWithData(t: ExecutionContext): Promise<string> {
  const image = `knit-test/with-data:${randomBytes(3).toString('hex')}`;
  const maker = `knit-vol-maker-${randomBytes(3).toString('hex')}`;
  t.teardown(async () => {
    await execFileP('docker', ['rm', '-f', maker]).catch(() => {});
    await execFileP('docker', ['rmi', image]).catch(() => {});
  });
  await execFileP('docker', ['run', '--name', maker, '--network', 'none', TEST_IMAGE, 'sh', '-c', 'mkdir /data && echo image > /data/from-image']);
  await execFileP('docker', ['commit', maker, image]);
  return image;
}

test('a run sees only its input at a path where its image has files, also when its container is made before the inputs are staged', async (t) => {
  const { docker, instance, labels, volumes, ctx: base, src, dst } = await attemptWithInput(t, 'engine', '/data');
  const ctx = { ...base, image: await imageWithData(t) };
  await writeFile(join(src.path, 'only.txt'), 'input\n');
  // The run container's create comes first (it runs beside the staging). The image keeps
  // /data/from-image: without NoCopy the engine copies it into the still empty input volume.
  const id = await docker.create({ name: `${instance}-probe`, image: ctx.image, labels, mounts: volumes.mounts(ctx, labels), isolation: STRICT_ISOLATION, entrypoint: ['/bin/sh', '-c'], cmd: ['ls -A /data > /out/model/ls.txt'] });
  // Teardowns run last-registered first: the probe goes before its image's rmi.
  t.teardown(() => docker.remove(id));
  await volumes.stage(ctx, labels, labels, { openOutputs: false }, async () => packDirectory(src.path, await planPack(src.path)));
  await docker.start(id);
  t.is(await docker.wait(id), 0);
  await extractArchive(chunksOf(await volumes.outputArchive(id, ctx, 0)), dst.path);
  t.is(await readFile(join(dst.path, 'ls.txt'), 'utf8'), 'only.txt\n');
});

test('localVolumeFolder: only a writable folder of the volume\'s own name that this user owns; emptyFolder removes symlinks, not their targets', async (t) => {
  const dir = await tempDir();
  t.teardown(() => dir.cleanup());
  const folder = join(dir.path, 'volumes', 'v1', '_data');
  await mkdir(folder, { recursive: true });
  t.is(await localVolumeFolder('v1', folder), folder);
  t.is(await localVolumeFolder('v2', folder), undefined, 'another volume\'s name');
  t.is(await localVolumeFolder('v1', join(dir.path, 'volumes', 'v1')), undefined, 'not the driver\'s _data');
  t.is(await localVolumeFolder('v9', join(dir.path, 'volumes', 'v9', '_data')), undefined, 'missing here');
  t.is(await localVolumeFolder('v1', ''), undefined);
  await mkdir(join(dir.path, 'volumes', 'v3'));
  await symlink(folder, join(dir.path, 'volumes', 'v3', '_data'));
  t.is(await localVolumeFolder('v3', join(dir.path, 'volumes', 'v3', '_data')), undefined, 'a symlink');
  if (process.getuid?.() === 0) {
    const other = join(dir.path, 'volumes', 'v4', '_data');
    await mkdir(other, { recursive: true });
    await chown(other, 1000, 1000);
    t.is(await localVolumeFolder('v4', other), undefined, 'owned by another uid (a remapping engine)');
  }
  const kept = join(dir.path, 'kept.txt');
  await writeFile(kept, 'target');
  await mkdir(join(folder, 'sub'));
  await writeFile(join(folder, 'sub', 'f'), 'x');
  await symlink(kept, join(folder, 'link'));
  await emptyFolder(folder);
  t.deepEqual(await readdir(folder), []);
  t.is(await readFile(kept, 'utf8'), 'target');
});
