import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { UnsafeEntryError } from '../../core/archive/entry-rules.js';
import { extractArchive } from '../../core/archive/extract.js';
import { packDirectory, planPack, type PackPlan } from '../../core/archive/pack.js';
import { blobKeyOf } from '../../core/data/db.js';
import { parseQuantity } from '../../core/plan/quantity.js';
import { resourceValueProblem } from '../../core/plan/resource-bounds.js';
import type { StoredContent } from '../../core/run/attempt.js';
import { timestampNanos, type LogLine } from '../../core/run/live-log.js';
import type { AttemptContext } from '../../core/run/model.js';
import type { BlobStore } from '../../core/storage/blob-store.js';
import { DigestCheck } from '../../core/storage/digest.js';
import { chunksOf } from '../../core/streams/chunks.js';
import { MemoryRelief, memoryRelief } from '../../core/streams/memory-relief.js';
import { RunRefused, type ContainerState, type Executor } from '../executor.js';
import { withScratch } from '../../core/storage/scratch.js';
import { AttemptVolumes } from './attempt-volumes.js';
import type { VolumeIo } from './config.js';
import { DockerError, LogDemuxer, type DockerEngine } from './engine.js';
import { containerIsolation, type IsolationSettings } from './isolation.js';
import { dockerSince, parseDockerLine } from './log-lines.js';
import { containerName, LABEL_ATTEMPT, LABEL_INSTANCE, LABEL_ROLE, LABEL_RUN } from './names.js';

export interface DockerExecutorOptions {
  docker: DockerEngine;
  store: BlobStore;
  instance: string;
  /** Scratch space of single activities (collecting an output); never shared between activities. */
  workdir: string;
  pullTimeoutMs: number;
  isolation: IsolationSettings;
  /** KNIT_DOCKER_VOLUME_IO. */
  volumeIo: VolumeIo;
}

/** A Docker refusal that no retry can change: the request itself is wrong (bad values, invalid config). */
function isRefusal(err: unknown): err is DockerError {
  return err instanceof DockerError && err.status >= 400 && err.status < 500 && err.status !== 404 && err.status !== 409;
}

/** A file or folder this process may not read: the engine, reading as itself, may. */
function isUnreadable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EACCES' || code === 'EPERM';
}

/** The engine's 404 (no such container) as nothing; any other failure stays one. */
function noneIfAbsent(err: unknown): undefined {
  if (err instanceof DockerError && err.status === 404) return undefined;
  throw err;
}

const GPU_RESOURCES = ['gpu', 'nvidia.com/gpu'];

/**
 * Runs each attempt as a container of one Docker engine, which every worker of the instance
 * shares. Inputs and outputs are named volumes of that engine (AttemptVolumes), so no step
 * depends on the disk of the worker that ran the step before.
 */
export class DockerExecutor implements Executor {
  readonly kind = 'docker' as const;
  private readonly volumes: AttemptVolumes;
  // The engine's host (cores, memory, runtimes) does not change while it runs: asked once per
  // worker rather than once per container, and asked again only after a failed attempt.
  private hostInfo: ReturnType<DockerEngine['info']> | undefined;

  constructor(private readonly o: DockerExecutorOptions) {
    this.volumes = new AttemptVolumes(o.docker, o.instance, o.volumeIo);
  }

  private name(ctx: AttemptContext): string {
    return containerName(this.o.instance, ctx.runId, ctx.attempt);
  }

  private labels(ctx: AttemptContext, role?: 'run' | 'staging'): Record<string, string> {
    return { [LABEL_INSTANCE]: this.o.instance, [LABEL_RUN]: ctx.runId, [LABEL_ATTEMPT]: String(ctx.attempt), ...(role ? { [LABEL_ROLE]: role } : {}) };
  }

  private host() {
    this.hostInfo ??= this.o.docker.info().catch((err: unknown) => {
      this.hostInfo = undefined;
      throw err;
    });
    return this.hostInfo;
  }

  async stage(ctx: AttemptContext, progress: () => void): Promise<void> {
    // The staging container is made of the run's image: it must be here before anything else.
    const image = await this.ensureImage(ctx, progress);
    // Outputs start as empty volumes owned by root, mode 0755: only a container running as
    // another user needs them opened up, which costs an archive call to the engine.
    const openOutputs = !runsAsRoot(this.o.isolation.user || image.user);
    try {
      await this.volumes.stage(ctx, this.labels(ctx), this.labels(ctx, 'staging'), { openOutputs }, async (idx) => {
        const input = ctx.inputs.find((i) => i.idx === idx)!;
        return verified(await this.o.store.get(input.blobKey), new DigestCheck(input.digest, input.size), progress);
      });
    } catch (err) {
      if ((err as Error).name === 'DigestMismatchError') throw new RunRefused('InputUnusable', `an input's stored archive does not match its digest: ${(err as Error).message}`);
      if (isRefusal(err) || err instanceof UnsafeEntryError) throw new RunRefused('InputUnusable', `an input could not be staged: ${err.message}`);
      throw err;
    }
  }

  /** The run's image on the engine, pulled when missing; its configuration, read once for both. */
  private async ensureImage(ctx: AttemptContext, progress: () => void): Promise<{ user: string }> {
    const present = await this.o.docker.imageConfig(ctx.image);
    if (present) return present;
    await this.pull(ctx, progress);
    return (await this.o.docker.imageConfig(ctx.image)) ?? { user: '' };
  }

  /** Pulls the run's image, heartbeating; one that cannot be pulled refuses the run. */
  private async pull(ctx: AttemptContext, progress: () => void): Promise<void> {
    const beat = setInterval(progress, 1000);
    try {
      await this.o.docker.pull(ctx.image, this.o.pullTimeoutMs);
    } catch (err) {
      throw new RunRefused(
        'ImageUnavailable',
        `image ${ctx.image} is not on this Docker engine and could not be pulled (${(err as Error).message}); build or load it there (docker build, docker load, docker import), or make its registry reachable`,
      );
    } finally {
      clearInterval(beat);
    }
  }

  async create(ctx: AttemptContext, progress: () => void): Promise<{ warnings: string[] }> {
    const warnings: string[] = [];
    const on = ctx.onNode;
    if (on.may.length + on.prefer.length + on.must.length > 0) warnings.push('on_node is ignored: the Docker engine has a single node');
    if (ctx.serviceAccount) warnings.push('service_account is ignored: it only means something on Kubernetes');
    const docker = this.o.docker;
    // Plans applied before knit checked resources may still hold values Docker cannot apply.
    for (const [resource, value] of Object.entries(ctx.resources)) {
      const problem = resourceValueProblem(resource, value);
      if (problem) throw new RunRefused('ResourcesInvalid', `resources.${resource}: ${problem}`);
    }
    const gpus = GPU_RESOURCES.map((r) => (ctx.resources[r] ? parseQuantity(ctx.resources[r]) ?? 0 : 0)).reduce((a, b) => a + b, 0);
    const cpu = ctx.resources['cpu'] ? parseQuantity(ctx.resources['cpu']) : undefined;
    const memory = ctx.resources['memory'] ? parseQuantity(ctx.resources['memory']) : undefined;
    const engineHost = await this.host();
    if (gpus > 0 && !engineHost.runtimes.includes('nvidia')) {
      throw new RunRefused('GpuUnavailable', `the plan asks for ${gpus} GPU(s), but this Docker engine has no GPU runtime (nvidia); run it where GPUs are available`);
    }
    // Docker would accept more memory than the host has (and the run would be OOM killed or
    // swap), and refuses more cores only when starting: both are told now, once.
    if (cpu !== undefined && engineHost.cpus > 0 && cpu > engineHost.cpus) {
      throw new RunRefused('ResourcesUnavailable', `resources.cpu: the plan asks for ${ctx.resources['cpu']} cores, but this Docker engine's host has ${engineHost.cpus}; lower it`);
    }
    if (memory !== undefined && engineHost.memoryBytes > 0 && memory > engineHost.memoryBytes) {
      throw new RunRefused('ResourcesUnavailable', `resources.memory: the plan asks for ${ctx.resources['memory']}, but this Docker engine's host has ${engineHost.memoryBytes} bytes; lower it`);
    }
    const spec = {
      name: this.name(ctx),
      image: ctx.image,
      entrypoint: ctx.entrypoint ?? undefined,
      cmd: ctx.args ?? undefined,
      env: Object.entries(ctx.env ?? {}).map(([k, v]) => `${k}=${v}`),
      mounts: this.volumes.mounts(ctx, this.labels(ctx)),
      labels: this.labels(ctx, 'run'),
      nanoCpus: cpu ? cpu * 1e9 : undefined,
      memoryBytes: memory,
      gpus: gpus > 0 ? gpus : undefined,
      isolation: containerIsolation(this.o.isolation, ctx.network === true),
    };
    // Made without asking first whether it or its image exists (each a call per run): the
    // engine's refusal says which, and only then is the image pulled or the container kept.
    try {
      await docker.create(spec).catch(async (err: unknown) => {
        if (!(err instanceof DockerError && err.status === 404) || (await docker.imageConfig(ctx.image))) throw err;
        await this.pull(ctx, progress);
        await docker.create(spec);
      });
    } catch (err) {
      // Made already: by an earlier try of this step, or by another one racing it.
      if (err instanceof DockerError && err.status === 409 && (await docker.inspect(this.name(ctx)))) return { warnings };
      if (isRefusal(err)) throw new RunRefused('ContainerInvalid', `the container could not be created: ${err.message}`);
      throw err;
    }
    return { warnings };
  }

  async state(ctx: AttemptContext): Promise<ContainerState> {
    const c = await this.o.docker.inspect(this.name(ctx));
    if (!c) return { phase: 'absent' };
    if (c.status === 'created') return { phase: 'created' };
    if (c.status === 'exited' || c.status === 'dead') return { phase: 'exited', exitCode: c.exitCode };
    return { phase: 'running' };
  }

  async start(ctx: AttemptContext): Promise<void> {
    try {
      await this.o.docker.start(this.name(ctx));
    } catch (err) {
      if (isRefusal(err)) throw new RunRefused('ContainerInvalid', `the container could not be started: ${err.message}`);
      throw err;
    }
  }

  async *logs(ctx: AttemptContext, opts: { follow: boolean; after?: string; signal?: AbortSignal }): AsyncIterable<LogLine[]> {
    const since = opts.after ? dockerSince(opts.after) : undefined;
    const body = await this.o.docker.logs(this.name(ctx), { follow: opts.follow, ...(since ? { since } : {}), ...(opts.signal ? { signal: opts.signal } : {}) }).catch(noneIfAbsent);
    if (!body) return;
    // Docker's `since` includes the line at that time: dropped here, as the port promises.
    const afterNanos = opts.after ? timestampNanos(opts.after) : undefined;
    const later = (l: LogLine) => afterNanos === undefined || (timestampNanos(l.timestamp) ?? afterNanos + 1n) > afterNanos;
    const demux = new LogDemuxer();
    for await (const chunk of chunksOf(body)) yield demux.push(chunk).map(parseDockerLine).filter(later);
    yield demux.flush().map(parseDockerLine).filter(later);
  }

  async wait(ctx: AttemptContext, signal: AbortSignal): Promise<{ exitCode: number | null; note?: string }> {
    const exitCode = await this.o.docker.wait(this.name(ctx), signal);
    const after = await this.o.docker.inspect(this.name(ctx));
    return after?.oomKilled ? { exitCode, note: 'the container ran out of memory (OOM killed); raise resources.memory' } : { exitCode };
  }

  async stop(ctx: AttemptContext, graceSeconds: number): Promise<void> {
    const c = await this.o.docker.inspect(this.name(ctx));
    if (c && c.status === 'running') await this.o.docker.stop(c.id, graceSeconds);
  }

  /**
   * Each output volume's tree is checked against the Data rules and stored; a tree that breaks
   * them (a symlink pointing out, a device file) is stored empty, with the reason. The tree is
   * read from the volume's folder when it is this machine's and nothing can write it any more
   * (directOutputs), else through the run's container (also one that never started) into this
   * step's own scratch folder, and checked there.
   */
  async collect(ctx: AttemptContext, progress: () => void): Promise<{ contents: StoredContent[]; problems: string[] }> {
    const contents: StoredContent[] = [];
    const problems: string[] = [];
    const direct = await this.directOutputs(ctx);
    for (const output of ctx.outputs) {
      const key = blobKeyOf(output.dataId);
      const store = async (root: string, plan: PackPlan) => {
        const info = await this.o.store.put(key, pipeline(packDirectory(root, plan, () => progress()), new MemoryRelief(), () => {}) as Readable);
        contents.push({ dataId: output.dataId, size: info.size, digest: info.digest, blobKey: key });
      };
      await withScratch(this.o.workdir, async (dir) => {
        const emptyTree = async () => {
          const empty = join(dir, 'empty');
          await mkdir(empty, { recursive: true });
          return empty;
        };
        const refused = async (err: unknown) => {
          if (!(err instanceof UnsafeEntryError)) throw err;
          problems.push(`output ${output.path} was not stored: ${err.message}`);
          const empty = await emptyTree();
          await store(empty, await planPack(empty));
        };
        const folder = direct?.get(output.idx);
        if (folder !== undefined) {
          try {
            // No volume: the container was never created; the output is empty, as through the engine.
            const root = folder ?? (await emptyTree());
            return await store(root, await planPack(root));
          } catch (err) {
            // A file this process may not read (a rootless engine's subordinate uid, mode 0600):
            // the engine can. Nothing was stored: a put is whole or nothing.
            if (!isUnreadable(err)) return refused(err);
          }
        }
        const tree = join(dir, 'tree');
        await mkdir(tree);
        try {
          // No container (it could not be created): the output is empty, and the run fails anyway.
          const archive = await this.volumes.outputArchive(this.name(ctx), ctx, output.idx).catch(noneIfAbsent);
          if (archive) await extractArchive(chunksOf(archive), tree);
          await store(tree, await planPack(tree));
        } catch (err) {
          await refused(err);
        }
      });
    }
    return { contents, problems };
  }

  /**
   * The output volumes' folders (null: no such volume), when collect may read them directly:
   * each is this machine's (volume-folder.ts) and the container is not running, so nothing in it
   * can change the tree between the check and the read (a directory swapped for a symlink would
   * otherwise lead the read out of the volume). Spares the engine's archive call, which mounts
   * the container's filesystem each time (about 40 ms per output here), and a copy of every byte.
   */
  private async directOutputs(ctx: AttemptContext): Promise<Map<number, string | null> | undefined> {
    if (ctx.outputs.length === 0) return undefined;
    const folders = await this.volumes.outputFolders(ctx);
    if (!folders) return undefined;
    return (await this.state(ctx)).phase === 'running' ? undefined : folders;
  }

  async release(ctx: AttemptContext): Promise<void> {
    await this.o.docker.remove(this.name(ctx));
    await this.volumes.remove(ctx);
  }

  async *leftovers(): AsyncIterable<{ runId: string; attempt: number; remove(): Promise<void> }> {
    const seen = new Set<string>();
    const filter = { [LABEL_INSTANCE]: this.o.instance };
    const found = [...(await this.o.docker.list(filter)).map((c) => c.labels), ...(await this.o.docker.listVolumes(filter)).map((v) => v.labels)];
    for (const labels of found) {
      const runId = labels[LABEL_RUN] ?? '';
      const attempt = Number(labels[LABEL_ATTEMPT]);
      const key = `${runId}/${attempt}`;
      if (!runId || !Number.isInteger(attempt) || seen.has(key)) continue;
      seen.add(key);
      yield { runId, attempt, remove: () => this.removeAll(runId, attempt) };
    }
  }

  /** Everything of one attempt, found by its labels (the sweeper has no AttemptContext). */
  private async removeAll(runId: string, attempt: number): Promise<void> {
    const filter = { [LABEL_INSTANCE]: this.o.instance, [LABEL_RUN]: runId, [LABEL_ATTEMPT]: String(attempt) };
    for (const c of await this.o.docker.list(filter)) await this.o.docker.remove(c.id);
    for (const v of await this.o.docker.listVolumes(filter)) await this.o.docker.removeVolume(v.name);
  }
}

/** Whether a container of `user` (Docker's `uid[:gid]` or name, empty for the image's default) runs as root. */
export function runsAsRoot(user: string): boolean {
  const name = user.split(':')[0]!.trim();
  return name === '' || name === 'root' || name === '0';
}

async function* verified(body: Readable, check: DigestCheck, beat: () => void): AsyncGenerator<Buffer> {
  const relieve = memoryRelief();
  for await (const chunk of chunksOf(body)) {
    check.update(chunk);
    relieve(chunk.length);
    beat();
    yield chunk;
  }
  check.finish();
}
