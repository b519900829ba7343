/**
 * The engine's share of a knit run (issue 11): the Docker calls the Docker executor makes for one
 * trivial run with one input and one output, made straight to the engine with nothing of knit
 * around them (no Temporal, no database, no worker), `parallel` runs at a time. Its runs per
 * second are what knit's run design costs the engine; knit's throughput against it is what the
 * orchestration adds, against bare `docker run --rm` what the design and orchestration add together.
 */
import { randomBytes } from 'node:crypto';
import { encodeHeader, END_OF_ARCHIVE } from '../../core/archive/tar-format.js';
import { extractArchive } from '../../core/archive/extract.js';
import { packDirectory, planPack } from '../../core/archive/pack.js';
import { DockerEngine } from '../../executor/docker/engine.js';
import { STRICT_ISOLATION } from '../../executor/docker/isolation.js';
import { emptyFolder, localVolumeFolder } from '../../executor/docker/volume-folder.js';

const drain = async (r: AsyncIterable<unknown>) => {
  for await (const _ of r);
};

/** One run's calls, in the order and grouping executor/docker makes them for a root image (outputs not opened). */
async function oneRun(docker: DockerEngine, image: string, base: string): Promise<void> {
  const labels = { 'knit.bench': 'engine-floor' };
  const input = `${base}-in0`;
  const output = `${base}-out0`;
  const input1 = Buffer.concat([encodeHeader({ path: 'f', type: 'file', mode: 0o644, size: 1, mtime: new Date(0) }), Buffer.alloc(512, 0x41, 'latin1').fill(0, 1), END_OF_ARCHIVE]);
  await docker.inspect(`${base}-run`);
  // The volumes are made by whichever comes first, the stage's volume create or the run
  // container's create; the input is written straight into its volume's folder when the engine
  // is this machine's (executor/docker/volume-folder.ts), else through a staging container.
  const stage = async () => {
    const folder = await localVolumeFolder(input, (await docker.createVolume(input, labels)).mountpoint);
    if (folder) {
      await emptyFolder(folder);
      await extractArchive((async function* () { yield input1; })(), folder);
      return;
    }
    await docker.imageConfig(image);
    const staging = await docker.create({ name: `${base}-staging`, image, entrypoint: ['/knit-staging-never-runs'], mounts: [{ volume: input, target: '/knit/in0', readOnly: false, labels }], labels });
    await docker.putArchive(staging, '/knit/in0', [input1]);
    void docker.remove(staging).catch(() => {});
  };
  const create = () =>
    docker.create({
      name: `${base}-run`,
      image,
      entrypoint: ['true'],
      labels,
      isolation: STRICT_ISOLATION,
      mounts: [
        { volume: input, target: '/in', readOnly: true, labels },
        { volume: output, target: '/out', readOnly: false, labels },
      ],
    });
  const [, id] = await Promise.all([stage(), create()]);
  await docker.inspect(id);
  await docker.start(id);
  const following = docker.logs(id, { follow: true }).then(drain);
  await docker.wait(id);
  await following;
  // As collect: an exited container's output is read from its volume's folder when that is this
  // machine's, else through the engine's archive call.
  const collect = async () => {
    await docker.inspect(`${base}-run`);
    const mountpoint = await docker.volumeMountpoint(output);
    const folder = mountpoint === undefined ? undefined : await localVolumeFolder(output, mountpoint);
    if (folder) return drain(packDirectory(folder, await planPack(folder)));
    return drain(await docker.getArchive(`${base}-run`, '/out/.'));
  };
  const collectLog = async () => drain(await docker.logs(`${base}-run`, { follow: false }));
  await Promise.all([collect(), collectLog()]);
  await docker.remove(id);
  await docker.remove(`${base}-staging`);
  await docker.removeVolume(input);
  await docker.removeVolume(output);
}

/** Runs per second of `n` such runs, `parallel` at a time. */
export async function engineFloorThroughput(image: string, n: number, parallel: number): Promise<number> {
  const docker = new DockerEngine();
  const prefix = `knit-floor-${randomBytes(3).toString('hex')}`;
  let next = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) await oneRun(docker, image, `${prefix}-${next++}`);
    }),
  );
  return n / ((Date.now() - t0) / 1000);
}
