import { chmod } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { extractArchive } from '../../core/archive/extract.js';
import { encodeHeader, END_OF_ARCHIVE } from '../../core/archive/tar-format.js';
import type { AttemptContext } from '../../core/run/model.js';
import type { VolumeIo } from './config.js';
import { DockerError, type DockerEngine } from './engine.js';
import { emptyFolder, localVolumeFolder } from './volume-folder.js';

type Archive = AsyncIterable<Buffer> | Iterable<Buffer>;

/**
 * An attempt's inputs and outputs as named volumes of the Docker engine, not folders on one
 * worker's disk: every worker of the instance talks to the same engine, so whichever worker
 * stages, runs or collects sees the same files (see executor/DESIGN.md).
 */
export class AttemptVolumes {
  /**
   * Set once a volume's folder proved not to be this machine's: the engine does not move, so
   * later attempts go straight to the staging container, without asking for folders first.
   */
  private foldersElsewhere = false;

  constructor(
    private readonly docker: DockerEngine,
    private readonly instance: string,
    /** KNIT_DOCKER_VOLUME_IO: `auto` fills and reads the volumes' folders directly when they are this machine's (volume-folder.ts). */
    private readonly io: VolumeIo,
  ) {}

  private base(ctx: AttemptContext): string {
    return `${this.instance}-run-${ctx.runId}-a${ctx.attempt}`;
  }
  input(ctx: AttemptContext, idx: number): string {
    return `${this.base(ctx)}-in${idx}`;
  }
  output(ctx: AttemptContext, idx: number): string {
    return `${this.base(ctx)}-out${idx}`;
  }
  stagingName(ctx: AttemptContext): string {
    return `${this.base(ctx)}-staging`;
  }

  /**
   * The run container's mounts: inputs read-only, outputs writable. The engine makes a missing
   * volume with `labels` as it creates the container (the staging one or the run's, whichever
   * comes first), so no call of its own is needed; knit's sweeper finds them by these labels.
   */
  mounts(ctx: AttemptContext, labels: Record<string, string>): Array<{ volume: string; target: string; readOnly: boolean; labels: Record<string, string> }> {
    return [
      ...ctx.inputs.map((i) => ({ volume: this.input(ctx, i.idx), target: i.path, readOnly: true, labels })),
      ...ctx.outputs.map((o) => ({ volume: this.output(ctx, o.idx), target: o.path, readOnly: false, labels })),
    ];
  }

  /**
   * Fills the volumes: directly into their folders when this machine has them (fillFolders),
   * otherwise through a staging container that is created from the run's own image (it
   * is on the engine already) and never started. A retry puts the same archives again over what
   * a crashed try left: each entry is rewritten whole, and a half-filled volume holds only
   * entries of the same archive, so the result is the archive. The volumes are never removed
   * here: the run container, created meanwhile, may already mount them. The staging container
   * is removed in the background once the volumes are filled.
   */
  async stage(
    ctx: AttemptContext,
    labels: Record<string, string>,
    stagingLabels: Record<string, string>,
    opts: { openOutputs: boolean },
    inputArchive: (idx: number) => Promise<Archive>,
  ): Promise<void> {
    const outputs = opts.openOutputs ? ctx.outputs : [];
    // Nothing to put: no staging container at all (the run container's create makes the volumes).
    if (ctx.inputs.length + outputs.length === 0) return;
    if (this.io === 'auto' && !this.foldersElsewhere && (await this.fillFolders(ctx, labels, outputs, inputArchive))) return;
    const spec = {
      name: this.stagingName(ctx),
      image: ctx.image,
      entrypoint: ['/knit-staging-never-runs'],
      mounts: [
        ...ctx.inputs.map((i) => ({ volume: this.input(ctx, i.idx), target: `/knit/in${i.idx}`, readOnly: false, labels })),
        ...outputs.map((o) => ({ volume: this.output(ctx, o.idx), target: `/knit/out${o.idx}`, readOnly: false, labels })),
      ],
      labels: stagingLabels,
    };
    // A crashed try may have left its staging container: removed only then, not looked for first.
    const id = await this.docker.create(spec).catch(async (err: unknown) => {
      if (!(err instanceof DockerError && err.status === 409)) throw err;
      await this.docker.remove(spec.name);
      return this.docker.create(spec);
    });
    try {
      for (const i of ctx.inputs) await this.docker.putArchive(id, `/knit/in${i.idx}`, await inputArchive(i.idx));
      // A directory entry one level up sets the mode of the volume's root: any user may write outputs.
      const entries = outputs.map((o) => encodeHeader({ path: `out${o.idx}/`, type: 'directory', mode: 0o777, size: 0, mtime: new Date(0) }));
      if (entries.length > 0) await this.docker.putArchive(id, '/knit', [Buffer.concat([...entries, END_OF_ARCHIVE])]);
    } catch (err) {
      await this.docker.remove(id);
      throw err;
    }
    // Not awaited: the run container can start meanwhile, its volumes are filled. One that
    // cannot be removed now is removed with the attempt (remove below).
    void this.docker.remove(id).catch(() => {});
  }

  /**
   * Makes the volumes and, when all their folders are this machine's, extracts each input into
   * its folder with knit's own extractor (the entry rules of every extraction) and opens the
   * outputs to any user. A retry first empties what a crashed try left: the run container is
   * not started yet (combined-steps.ts stages only then). False, with nothing written, when a
   * folder is elsewhere.
   */
  private async fillFolders(ctx: AttemptContext, labels: Record<string, string>, outputs: AttemptContext['outputs'], inputArchive: (idx: number) => Promise<Archive>): Promise<boolean> {
    const folderOf = async (volume: string) => localVolumeFolder(volume, (await this.docker.createVolume(volume, labels)).mountpoint);
    const [inputs, opened] = await Promise.all([
      Promise.all(ctx.inputs.map(async (i) => ({ idx: i.idx, folder: await folderOf(this.input(ctx, i.idx)) }))),
      Promise.all(outputs.map(async (o) => folderOf(this.output(ctx, o.idx)))),
    ]);
    if ([...inputs.map((i) => i.folder), ...opened].some((f) => f === undefined)) {
      this.foldersElsewhere = true;
      return false;
    }
    for (const { idx, folder } of inputs) {
      await emptyFolder(folder!);
      await extractArchive(asAsync(await inputArchive(idx)), folder!);
    }
    for (const folder of opened) await chmod(folder!, 0o777);
    return true;
  }

  /**
   * Each output volume's folder on this machine (null: no such volume yet), or undefined when
   * any is elsewhere or the engine is to be asked (`engine`); see fillFolders for the checks.
   */
  async outputFolders(ctx: AttemptContext): Promise<Map<number, string | null> | undefined> {
    if (this.io !== 'auto' || this.foldersElsewhere) return undefined;
    const found = await Promise.all(
      ctx.outputs.map(async (o) => {
        const volume = this.output(ctx, o.idx);
        const mountpoint = await this.docker.volumeMountpoint(volume);
        return [o.idx, mountpoint === undefined ? null : await localVolumeFolder(volume, mountpoint)] as const;
      }),
    );
    if (found.some(([, folder]) => folder === undefined)) {
      this.foldersElsewhere = true;
      return undefined;
    }
    return new Map(found as Array<readonly [number, string | null]>);
  }

  /** The output folder's tree as a tar stream, entries relative to the folder. */
  async outputArchive(container: string, ctx: AttemptContext, idx: number): Promise<Readable> {
    const path = ctx.outputs.find((o) => o.idx === idx)!.path;
    return this.docker.getArchive(container, `${path.replace(/\/+$/, '')}/.`);
  }

  async remove(ctx: AttemptContext): Promise<void> {
    await this.docker.remove(this.stagingName(ctx));
    for (const i of ctx.inputs) await this.docker.removeVolume(this.input(ctx, i.idx));
    for (const o of ctx.outputs) await this.docker.removeVolume(this.output(ctx, o.idx));
  }
}

async function* asAsync(archive: Archive): AsyncGenerator<Buffer> {
  yield* archive;
}
