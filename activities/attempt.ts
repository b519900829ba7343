import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { UnsafeEntryError } from '../core/archive/entry-rules.js';
import { extractArchive } from '../core/archive/extract.js';
import { packDirectory, planPack } from '../core/archive/pack.js';
import { blobKeyOf } from '../core/data/db.js';
import { withTx, type Pool } from '../core/db/pool.js';
import type { Logger } from '../core/log/logger.js';
import { parseQuantity } from '../core/plan/quantity.js';
import { resourceValueProblem } from '../core/plan/resource-bounds.js';
import { beginAttempt, finishAttempt, type BeginResult, type Outcome, type StoredContent } from '../core/run/attempt.js';
import { setStatus } from '../core/run/store.js';
import type { AttemptContext } from '../core/run/model.js';
import type { BlobStore } from '../core/storage/blob-store.js';
import { DigestCheck } from '../core/storage/digest.js';
import { chunksOf } from '../core/streams/chunks.js';
import { MemoryRelief, memoryRelief } from '../core/streams/memory-relief.js';
import { DockerError, LogDemuxer, type DockerEngine } from './docker/engine.js';
import { containerIsolation, type IsolationSettings } from './docker/isolation.js';
import { heartbeating, throttledHeartbeat } from './heartbeat.js';
import { formatLogLine, liveLogPrefix } from '../core/run/live-log.js';
import { LiveLogWriter } from './live-log.js';
import { containerName, LABEL_ATTEMPT, LABEL_INSTANCE, LABEL_RUN, Workspace } from './workspace.js';

export interface AttemptDeps {
  pool: Pool;
  store: BlobStore;
  docker: DockerEngine;
  log: Logger;
  /** Wakes the matcher after a run's outputs become eligible; best effort (the backstop covers it). */
  wakeMatcher: () => Promise<void>;
  config: {
    instance: string;
    workdir: string;
    pullTimeoutMs: number;
    stopGraceSeconds: number;
    isolation: IsolationSettings;
  };
}

/** A Docker refusal that no retry can change: the request itself is wrong (bad values, invalid config). */
function isRefusal(err: unknown): err is DockerError {
  return err instanceof DockerError && err.status >= 400 && err.status < 500 && err.status !== 404 && err.status !== 409;
}

const GPU_RESOURCES = ['gpu', 'nvidia.com/gpu'];

/** The activities of one run attempt. Each is idempotent: running it again after a crash is safe. */
export function attemptActivities(deps: AttemptDeps) {
  const { pool, store, docker, config } = deps;
  const ws = (ctx: AttemptContext) => new Workspace(config.workdir, ctx.runId, ctx.attempt);
  const name = (ctx: AttemptContext) => containerName(config.instance, ctx.runId, ctx.attempt);
  // The engine's host (cores, memory, runtimes) does not change while it runs: asked once per
  // worker rather than once per container, and asked again only after a failed attempt.
  let hostInfo: ReturnType<DockerEngine['info']> | undefined;
  const host = () => {
    hostInfo ??= docker.info().catch((err: unknown) => {
      hostInfo = undefined;
      throw err;
    });
    return hostInfo;
  };

  async function stopRequested(ctx: AttemptContext): Promise<boolean> {
    const r = await pool.query<{ stop_requested: string | null; attempt: number }>('SELECT stop_requested, attempt FROM run WHERE id = $1', [ctx.runId]);
    return r.rows[0]?.attempt === ctx.attempt && r.rows[0].stop_requested !== null;
  }

  return {
    async beginAttempt(args: { runId: string }): Promise<BeginResult> {
      return withTx(pool, (tx) => beginAttempt(tx, args.runId));
    },

    /** Extracts each input, digest-verified, into the workspace; creates empty output folders. */
    async stageInputs(ctx: AttemptContext): Promise<void> {
      const w = ws(ctx);
      const beat = throttledHeartbeat();
      for (const input of ctx.inputs) {
        const dir = w.input(input.idx);
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        const check = new DigestCheck(input.digest, input.size);
        const body = await store.get(input.blobKey);
        try {
          await extractArchive(verified(body, check, beat), dir);
        } catch (err) {
          if (err instanceof UnsafeEntryError || (err as Error).name === 'DigestMismatchError') {
            throw ApplicationFailure.nonRetryable(`input ${input.path} (data ${input.dataId}): ${(err as Error).message}`, 'InputUnusable');
          }
          throw err;
        }
      }
      for (const output of ctx.outputs) {
        const dir = w.output(output.idx);
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        // Whatever user the image runs as, it may write its outputs.
        await chmod(dir, 0o777);
      }
      await setStatus(pool, ctx.runId, ctx.attempt, 'starting');
    },

    /** Creates (never starts) the container under its deterministic name; heartbeats while it pulls the image. */
    createContainer: heartbeating(async (ctx: AttemptContext): Promise<{ containerId: string; warnings: string[] }> => {
      const warnings: string[] = [];
      const on = ctx.onNode;
      if (on.may.length + on.prefer.length + on.must.length > 0) warnings.push('on_node is ignored: the Docker engine has a single node');
      if (ctx.serviceAccount) warnings.push('service_account is ignored: it only means something on Kubernetes');
      const existing = await docker.inspect(name(ctx));
      if (existing) return { containerId: existing.id, warnings };

      if (!(await docker.hasImage(ctx.image))) {
        try {
          await docker.pull(ctx.image, config.pullTimeoutMs);
        } catch (err) {
          throw ApplicationFailure.nonRetryable(
            `image ${ctx.image} is not on this Docker engine and could not be pulled (${(err as Error).message}); build or load it there (docker build, docker load, docker import), or make its registry reachable`,
            'ImageUnavailable',
          );
        }
      }
      // Plans applied before knit checked resources may still hold values Docker cannot apply.
      for (const [resource, value] of Object.entries(ctx.resources)) {
        const problem = resourceValueProblem(resource, value);
        if (problem) throw ApplicationFailure.nonRetryable(`resources.${resource}: ${problem}`, 'ResourcesInvalid');
      }
      const gpus = GPU_RESOURCES.map((r) => (ctx.resources[r] ? parseQuantity(ctx.resources[r]) ?? 0 : 0)).reduce((a, b) => a + b, 0);
      const cpu = ctx.resources['cpu'] ? parseQuantity(ctx.resources['cpu']) : undefined;
      const memory = ctx.resources['memory'] ? parseQuantity(ctx.resources['memory']) : undefined;
      const engineHost = await host();
      if (gpus > 0 && !engineHost.runtimes.includes('nvidia')) {
        throw ApplicationFailure.nonRetryable(`the plan asks for ${gpus} GPU(s), but this Docker engine has no GPU runtime (nvidia); run it where GPUs are available`, 'GpuUnavailable');
      }
      // Docker would accept more memory than the host has (and the run would be OOM killed or
      // swap), and refuses more cores only when starting: both are told now, once.
      if (cpu !== undefined && engineHost.cpus > 0 && cpu > engineHost.cpus) {
        throw ApplicationFailure.nonRetryable(`resources.cpu: the plan asks for ${ctx.resources['cpu']} cores, but this Docker engine's host has ${engineHost.cpus}; lower it`, 'ResourcesUnavailable');
      }
      if (memory !== undefined && engineHost.memoryBytes > 0 && memory > engineHost.memoryBytes) {
        throw ApplicationFailure.nonRetryable(`resources.memory: the plan asks for ${ctx.resources['memory']}, but this Docker engine's host has ${engineHost.memoryBytes} bytes; lower it`, 'ResourcesUnavailable');
      }
      const w = ws(ctx);
      try {
        const id = await docker.create({
          name: name(ctx),
          image: ctx.image,
          entrypoint: ctx.entrypoint ?? undefined,
          cmd: ctx.args ?? undefined,
          binds: [...ctx.inputs.map((i) => `${w.input(i.idx)}:${i.path}:ro`), ...ctx.outputs.map((o) => `${w.output(o.idx)}:${o.path}:rw`)],
          labels: { [LABEL_INSTANCE]: config.instance, [LABEL_RUN]: ctx.runId, [LABEL_ATTEMPT]: String(ctx.attempt) },
          nanoCpus: cpu ? cpu * 1e9 : undefined,
          memoryBytes: memory,
          gpus: gpus > 0 ? gpus : undefined,
          isolation: containerIsolation(config.isolation, ctx.network === true),
        });
        return { containerId: id, warnings };
      } catch (err) {
        // Two attempts of this activity racing: the other one created it.
        if (err instanceof DockerError && err.status === 409) {
          const found = await docker.inspect(name(ctx));
          if (found) return { containerId: found.id, warnings };
        }
        if (isRefusal(err)) throw ApplicationFailure.nonRetryable(`the container could not be created: ${err.message}`, 'ContainerInvalid');
        throw err;
      }
    }),

    /**
     * Starts the container unless it already ran, then follows it to the end: its log goes to
     * storage as it is written (for `knit run log -f`), and heartbeats tell Temporal this worker
     * is alive. A replacement worker re-attaches to the same container.
     */
    async runContainer(ctx: AttemptContext): Promise<{ exitCode: number | null; note?: string }> {
      const activity = Context.current();
      const state = await docker.inspect(name(ctx));
      if (!state) throw ApplicationFailure.nonRetryable(`the container of run ${ctx.runId} is gone; it was removed outside knit`, 'ContainerGone');
      if (state.status === 'created') {
        if (await stopRequested(ctx)) return { exitCode: null, note: 'stopped before its container started' };
        try {
          await docker.start(state.id);
        } catch (err) {
          if (isRefusal(err)) throw ApplicationFailure.nonRetryable(`the container could not be started: ${err.message}`, 'ContainerInvalid');
          throw err;
        }
        if (await stopRequested(ctx)) await docker.stop(state.id, config.stopGraceSeconds);
      }
      await setStatus(pool, ctx.runId, ctx.attempt, 'running');

      const resume = activity.info.heartbeatDetails as { seq: number; lastTimestamp: string } | undefined;
      const live = new LiveLogWriter(store, ctx.runId, ctx.attempt, resume?.seq ?? 0, resume?.lastTimestamp);
      const beat = setInterval(() => {
        activity.heartbeat(live.position());
        void live.flush().catch(() => {});
      }, 1000);
      // Ends the log stream and the wait on a cancel, also one that came before this line, and
      // when this activity returns.
      const done = new AbortController();
      const signal = AbortSignal.any([activity.cancellationSignal, done.signal]);
      try {
        const pump = (async () => {
          const since = live.sinceParam();
          const logs = await docker.logs(state.id, { follow: true, ...(since ? { since } : {}), signal });
          const demux = new LogDemuxer();
          for await (const chunk of chunksOf(logs)) await live.add(demux.push(chunk));
          await live.add(demux.flush());
        })().catch((err: unknown) => {
          // Handled here, not after wait(): when a cancellation aborts wait(), nobody would await the
          // pump, and its AbortError would become an unhandled rejection that kills the worker.
          if (!signal.aborted) deps.log.warn({ err, runId: ctx.runId }, 'log streaming ended early');
        });
        const exitCode = await docker.wait(state.id, signal);
        await pump;
        await live.flush();
        const after = await docker.inspect(state.id);
        return after?.oomKilled ? { exitCode, note: 'the container ran out of memory (OOM killed); raise resources.memory' } : { exitCode };
      } finally {
        clearInterval(beat);
        done.abort();
      }
    },

    /** Heartbeats while Docker waits out the stop grace period. */
    stopContainer: heartbeating(async (ctx: AttemptContext): Promise<void> => {
      const state = await docker.inspect(name(ctx));
      if (state && state.status === 'running') await docker.stop(state.id, config.stopGraceSeconds);
    }),

    /**
     * Stores each output folder as its Data's archive. A tree that breaks the Data rules (a
     * symlink pointing out, a device file) is stored empty, and the reason fails the run.
     */
    async collectOutputs(ctx: AttemptContext): Promise<{ contents: StoredContent[]; problems: string[] }> {
      const w = ws(ctx);
      const contents: StoredContent[] = [];
      const problems: string[] = [];
      for (const output of ctx.outputs) {
        let dir = w.output(output.idx);
        await mkdir(dir, { recursive: true });
        let plan;
        try {
          plan = await planPack(dir);
        } catch (err) {
          if (!(err instanceof UnsafeEntryError)) throw err;
          problems.push(`output ${output.path} was not stored: ${err.message}`);
          dir = join(w.root, 'empty');
          await mkdir(dir, { recursive: true });
          plan = await planPack(dir);
        }
        const key = blobKeyOf(output.dataId);
        const beat = throttledHeartbeat();
        const info = await store.put(key, pipeline(packDirectory(dir, plan, () => beat()), new MemoryRelief(), () => {}) as Readable);
        contents.push({ dataId: output.dataId, size: info.size, digest: info.digest, blobKey: key });
      }
      return { contents, problems };
    },

    /** Stores the container's complete log (from Docker, not the live copy) with knit's own notes; heartbeats while Docker sends it. */
    collectLog: heartbeating(async (ctx: AttemptContext, extra: { notes: string[]; message: string | null }): Promise<StoredContent> => {
      const w = ws(ctx);
      await rm(w.logDir, { recursive: true, force: true });
      await mkdir(w.logDir, { recursive: true });
      const lines: string[] = extra.notes.map((n) => `${new Date().toISOString()} knit ${n}`);
      const state = await docker.inspect(name(ctx));
      if (state) {
        const demux = new LogDemuxer();
        const logs = await docker.logs(state.id, { follow: false });
        for await (const chunk of chunksOf(logs)) for (const l of demux.push(chunk)) lines.push(formatLogLine(l.stream, l.line).text);
        for (const l of demux.flush()) lines.push(formatLogLine(l.stream, l.line).text);
      }
      if (extra.message) lines.push(`${new Date().toISOString()} knit ${extra.message}`);
      await writeFile(join(w.logDir, 'log'), lines.length ? `${lines.join('\n')}\n` : '');
      const key = blobKeyOf(ctx.log.dataId);
      const info = await store.put(key, packDirectory(w.logDir, await planPack(w.logDir)));
      return { dataId: ctx.log.dataId, size: info.size, digest: info.digest, blobKey: key };
    }),

    /** Finishes the attempt in one transaction, then wakes the matcher for downstream plans. */
    async finishAttempt(ctx: AttemptContext, outcome: Outcome): Promise<boolean> {
      const finished = await withTx(pool, (tx) => finishAttempt(tx, ctx.runId, ctx.attempt, outcome));
      await deps.wakeMatcher().catch((err: unknown) => deps.log.warn({ err, runId: ctx.runId }, 'could not wake the matcher; its backstop will'));
      return finished;
    },

    /** Removes the container, the workspace and the live log: nothing is left once a run ends. */
    async cleanupAttempt(ctx: AttemptContext): Promise<void> {
      const state = await docker.inspect(name(ctx));
      if (state) await docker.remove(state.id);
      await rm(ws(ctx).root, { recursive: true, force: true });
      for await (const e of store.list(liveLogPrefix(ctx.runId, ctx.attempt))) await store.delete(e.key);
    },
  };
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
