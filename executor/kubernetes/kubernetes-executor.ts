import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { ApiException, CoreV1Api, Exec, PatchStrategy, setHeaderOptions, Watch, type KubeConfig, type V1Pod, type V1Status } from '@kubernetes/client-node';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packDirectory, planPack } from '../../core/archive/pack.js';
import { blobKeyOf } from '../../core/data/db.js';
import type { Logger } from '../../core/log/logger.js';
import type { BlobStore } from '../../core/storage/blob-store.js';
import type { StoredContent } from '../../core/run/attempt.js';
import { timestampNanos } from '../../core/run/live-log.js';
import type { AttemptContext } from '../../core/run/model.js';
import type { AttemptUpload } from '../../core/run/uploads.js';
import { RunRefused, type ContainerState, type Executor, type LogLine } from '../executor.js';
import { CONTAINER, LABEL_ATTEMPT, LABEL_INSTANCE, LABEL_RUN, START_GATE, podName, podProblems, podSpec } from './pod-spec.js';
import { containerState, isGated, judge, keepStatus, missingUploadProblem, podEnded, runStatus } from './pod-status.js';

export interface KubernetesExecutorOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  instance: string;
  agent: { image: string; entrypoint: string[]; url: string; token(ctx: AttemptContext): string };
  /** The outputs knitd recorded as the agent's sidecar uploaded them (core/run/uploads.ts). */
  uploads(ctx: AttemptContext): Promise<AttemptUpload[]>;
  /** Where an output the agent did not upload is stored empty, so the attempt can finish (failed, saying why). */
  store: BlobStore;
  /** How long a started Pod may stay unschedulable before the run is refused. */
  pendingTimeoutMs: number;
  gpuResource?: string;
  isolation: { capAdd: string[] };
  log: Logger;
  /** How long collect waits for the sidecar to finish its uploads (default: the Pod's grace period and a minute). */
  uploadTimeoutMs?: number;
}

/** How often a wait re-reads the Pod even when its watch is quiet (or broken). */
const POLL_MS = 2000;
const RELEASE_TIMEOUT_MS = 60_000;

function apiStatus(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/** The API server's own words from an error (its Status message), not the client's wrapping. */
export function apiMessage(err: unknown): string {
  if (err instanceof ApiException) {
    let body: unknown = err.body;
    if (typeof err.body === 'string') {
      const raw = err.body;
      try {
        body = JSON.parse(raw);
      } catch {
        return raw || `HTTP ${err.code}`;
      }
    }
    const message = (body as { message?: unknown } | undefined)?.message;
    return typeof message === 'string' ? message : `HTTP ${err.code}`;
  }
  return (err as Error).message;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The Executor on Kubernetes: one Pod per attempt (pod-spec.ts), found again by its name, so
 * every method may run on any worker and be repeated.
 */
export class KubernetesExecutor implements Executor {
  readonly kind = 'kubernetes' as const;
  private readonly core: CoreV1Api;
  private readonly gpuResource: string;

  constructor(private readonly opts: KubernetesExecutorOptions) {
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.gpuResource = opts.gpuResource ?? 'nvidia.com/gpu';
  }

  podName(ctx: AttemptContext): string {
    return podName(this.opts.instance, ctx.runId, ctx.attempt);
  }

  private async read(name: string): Promise<V1Pod | undefined> {
    try {
      return await this.core.readNamespacedPod({ name, namespace: this.opts.namespace });
    } catch (err) {
      if (apiStatus(err) === 404) return undefined;
      throw err;
    }
  }

  /** Nothing to copy (the Pod's init container fetches the inputs); what the API server would refuse is said now. */
  async stage(ctx: AttemptContext, _progress: () => void): Promise<void> {
    const problems = podProblems(ctx);
    if (problems.length > 0) throw new RunRefused('PodInvalid', `the run cannot be a Kubernetes Pod: ${problems.join('; ')}`);
    if (ctx.serviceAccount) {
      try {
        await this.core.readNamespacedServiceAccount({ name: ctx.serviceAccount, namespace: this.opts.namespace });
      } catch (err) {
        if (apiStatus(err) === 404) throw new RunRefused('ServiceAccountMissing', `service_account ${ctx.serviceAccount}: there is no such service account in namespace ${this.opts.namespace}; create it or change the plan`);
        throw err;
      }
    }
  }

  async create(ctx: AttemptContext, _progress: () => void): Promise<{ warnings: string[] }> {
    const pod = podSpec(ctx, {
      namespace: this.opts.namespace,
      instance: this.opts.instance,
      agent: { image: this.opts.agent.image, entrypoint: this.opts.agent.entrypoint, url: this.opts.agent.url, token: this.opts.agent.token(ctx) },
      gpuResource: this.gpuResource,
      capAdd: this.opts.isolation.capAdd,
    });
    try {
      await this.core.createNamespacedPod({ namespace: this.opts.namespace, body: pod });
    } catch (err) {
      const code = apiStatus(err);
      // A retried activity: the Pod is there already. Only ever this attempt's, as the name says.
      if (code === 409) {
        const found = await this.read(pod.metadata!.name!);
        if (found && found.metadata?.labels?.[LABEL_RUN] === ctx.runId && found.metadata.labels[LABEL_ATTEMPT] === String(ctx.attempt)) return { warnings: [] };
        throw new Error(`a Pod named ${pod.metadata!.name} exists in namespace ${this.opts.namespace} but is not run ${ctx.runId} attempt ${ctx.attempt}'s`);
      }
      if (code === 422 || code === 400) throw new RunRefused('PodInvalid', `Kubernetes refused the run's Pod: ${apiMessage(err)}`);
      throw err;
    }
    return { warnings: [] };
  }

  async state(ctx: AttemptContext): Promise<ContainerState> {
    return containerState(await this.read(this.podName(ctx)));
  }

  /** Removes knit's scheduling gate (and only it); a second call finds it gone and does nothing. */
  async start(ctx: AttemptContext): Promise<void> {
    const name = this.podName(ctx);
    const pod = await this.read(name);
    if (!pod) throw new RunRefused('PodGone', `the Pod ${name} of run ${ctx.runId} is gone; it was removed outside knit`);
    if (!isGated(pod)) return;
    const rest = (pod.spec?.schedulingGates ?? []).filter((g) => g.name !== START_GATE);
    await this.core.patchNamespacedPod(
      { name, namespace: this.opts.namespace, body: { spec: { schedulingGates: rest.length > 0 ? rest : null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  /**
   * Resolves on the next change of the Pod (a watch event), or after POLL_MS, whichever is
   * first: the watch makes the wait prompt, the timer makes it correct when the watch breaks.
   */
  private podChanges(name: string, signal: AbortSignal): { next(): Promise<void>; close(): void } {
    let wake: (() => void) | undefined;
    let watching: AbortController | undefined;
    let active = false;
    let closed = false;
    let lastStart = 0;
    const startWatch = () => {
      if (closed || active || Date.now() - lastStart < POLL_MS) return;
      active = true;
      lastStart = Date.now();
      let ended = false;
      new Watch(this.opts.kubeConfig)
        .watch(
          `/api/v1/namespaces/${encodeURIComponent(this.opts.namespace)}/pods`,
          { fieldSelector: `metadata.name=${name}`, timeoutSeconds: 25 },
          () => wake?.(),
          (err: unknown) => {
            ended = true;
            active = false;
            watching = undefined;
            if (err && !closed) this.opts.log.debug({ err, pod: name }, 'pod watch ended; polling until it is back');
          },
        )
        .then(
          (c) => {
            if (closed) c.abort();
            else if (!ended) watching = c;
          },
          (err: unknown) => {
            active = false;
            this.opts.log.debug({ err, pod: name }, 'pod watch could not start; polling');
          },
        );
    };
    return {
      next: async () => {
        startWatch();
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(done, POLL_MS);
          function done() {
            clearTimeout(timer);
            signal.removeEventListener('abort', onAbort);
            wake = undefined;
            resolve();
          }
          function onAbort() {
            clearTimeout(timer);
            wake = undefined;
            reject(signal.reason);
          }
          if (signal.aborted) return onAbort();
          wake = done;
          signal.addEventListener('abort', onAbort, { once: true });
        });
      },
      close: () => {
        closed = true;
        watching?.abort();
      },
    };
  }

  async wait(ctx: AttemptContext, signal: AbortSignal): Promise<{ exitCode: number | null; note?: string }> {
    const name = this.podName(ctx);
    const changes = this.podChanges(name, signal);
    let unschedulableSince: number | undefined;
    try {
      for (;;) {
        signal.throwIfAborted();
        const pod = await this.read(name);
        if (!pod) throw new RunRefused('PodGone', `the Pod ${name} of run ${ctx.runId} was deleted while knit waited for it to end (by a stop before it ran, or outside knit)`);
        if (isGated(pod)) throw new Error(`the Pod ${name} of run ${ctx.runId} has not been started (its scheduling gate is still on): start it before waiting`);
        const verdict = judge(pod, ctx.image, this.opts.agent.image);
        if (verdict.kind === 'ended') return verdict.note ? { exitCode: verdict.exitCode, note: verdict.note } : { exitCode: verdict.exitCode };
        if (verdict.kind === 'refused') throw new RunRefused(verdict.reason, verdict.message);
        if (verdict.kind === 'unschedulable') {
          unschedulableSince ??= Date.now();
          if (Date.now() - unschedulableSince >= this.opts.pendingTimeoutMs) {
            throw new RunRefused('Unschedulable', `no node of the cluster can take the run's Pod (waited ${Math.round(this.opts.pendingTimeoutMs / 1000)} s): ${verdict.message}; check the plan's resources and on_node`);
          }
        } else {
          unschedulableSince = undefined;
        }
        await changes.next();
      }
    } finally {
      changes.close();
    }
  }

  /** Until `run` has started (or the Pod ended or is gone); the log API refuses a container that is still waiting. */
  private async untilRunStarted(name: string, signal?: AbortSignal): Promise<V1Pod | undefined> {
    for (;;) {
      const pod = await this.read(name);
      if (!pod) return undefined;
      const run = runStatus(pod)?.state;
      if (run?.running || run?.terminated || podEnded(pod)) return pod;
      // It never will (a missing image...): wait() says why; there is no log to follow.
      if (!isGated(pod) && judge(pod, '', '').kind === 'refused') return undefined;
      await sleep(500, signal);
    }
  }

  async *logs(ctx: AttemptContext, opts: { follow: boolean; after?: string; signal?: AbortSignal }): AsyncIterable<LogLine[]> {
    const name = this.podName(ctx);
    let pod: V1Pod | undefined;
    try {
      pod = opts.follow ? await this.untilRunStarted(name, opts.signal) : await this.read(name);
    } catch (err) {
      if (opts.signal?.aborted) return;
      throw err;
    }
    const run = pod ? runStatus(pod)?.state : undefined;
    if (!pod || !(run?.running || run?.terminated)) return;
    const afterNanos = opts.after ? timestampNanos(opts.after) : undefined;
    const query = new URLSearchParams({ container: CONTAINER.run, timestamps: 'true', follow: String(opts.follow) });
    // The API takes whole seconds: from the second of `after` on, and the lines up to it are dropped below.
    if (afterNanos !== undefined) query.set('sinceTime', new Date(Number(afterNanos / 1_000_000_000n) * 1000).toISOString().replace(/\.\d+Z$/, 'Z'));
    const parse = (raw: string): LogLine => {
      const space = raw.indexOf(' ');
      return space > 0 ? { stream: 'stdout', timestamp: raw.slice(0, space), text: raw.slice(space + 1) } : { stream: 'stdout', timestamp: '', text: raw };
    };
    const wanted = (l: LogLine) => {
      if (afterNanos === undefined) return true;
      const n = timestampNanos(l.timestamp);
      return n === undefined || n > afterNanos;
    };
    let rest = '';
    // A character may be split between two chunks.
    const utf8 = new StringDecoder('utf8');
    try {
      const body = await this.request(`/api/v1/namespaces/${encodeURIComponent(this.opts.namespace)}/pods/${encodeURIComponent(name)}/log?${query}`, opts.signal);
      for await (const chunk of body) {
        const lines = (rest + utf8.write(chunk as Buffer)).split('\n');
        rest = lines.pop()!;
        const batch = lines.map(parse).filter(wanted);
        if (batch.length > 0) yield batch;
      }
    } catch (err) {
      // An abort ends the log where it is; anything else is the caller's to see.
      if (opts.signal?.aborted) return;
      throw err;
    }
    rest += utf8.end();
    const last = rest === '' ? [] : [parse(rest)].filter(wanted);
    if (last.length > 0) yield last;
  }

  /**
   * A streamed GET on the API server, over node:https with the kubeconfig's credentials: the
   * client's own Log helper pipes a stream whose errors (an abort among them) nobody handles.
   */
  private async request(path: string, signal?: AbortSignal): Promise<IncomingMessage> {
    const cluster = this.opts.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    const options: https.RequestOptions = { method: 'GET', headers: {} };
    await this.opts.kubeConfig.applyToHTTPSOptions(options);
    const send = url.protocol === 'https:' ? https.request : http.request;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(url, { ...options, ...(signal ? { signal } : {}) }, resolve);
      req.on('error', reject);
      req.end();
    });
    if (res.statusCode === 200) return res;
    let text = '';
    for await (const chunk of res) if (text.length < 65_536) text += (chunk as Buffer).toString('utf8');
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // not a Status object: the body as it came
    }
    throw new ApiException(res.statusCode ?? 0, `GET ${url.pathname}: ${message}`, text, {});
  }

  /**
   * A running `run` is stopped by the agent in the `keep` sidecar (it shares the Pod's process
   * namespace): SIGTERM, then SIGKILL after the grace period. Kubernetes itself can only stop a
   * whole Pod, and that would stop the sidecar before it uploads. A Pod that has not started its
   * run yet is deleted.
   */
  async stop(ctx: AttemptContext, graceSeconds: number): Promise<void> {
    const name = this.podName(ctx);
    const pod = await this.read(name);
    if (!pod) return;
    const run = runStatus(pod)?.state;
    if (run?.terminated || podEnded(pod)) return;
    if (!run?.running) {
      await this.deletePod(name, graceSeconds);
      return;
    }
    let result: { exitCode: number | null; output: string };
    try {
      result = await this.execInKeep(name, [...this.opts.agent.entrypoint, 'stop', '--grace', String(graceSeconds)], (graceSeconds + 60) * 1000);
    } catch (err) {
      // The run ended meanwhile and the kubelet stopped the sidecar: there is nothing left to stop.
      const now = await this.read(name);
      if (!now || runStatus(now)?.state?.terminated || podEnded(now)) return;
      throw err;
    }
    const { exitCode, output } = result;
    if (exitCode !== 0) throw new Error(`the agent could not stop run ${ctx.runId} (pod ${name}, exit code ${exitCode ?? 'unknown'}): ${output.trim() || 'no output'}`);
  }

  /** Runs a command in the sidecar over the API server's exec websocket; its exit code and output. */
  private async execInKeep(name: string, command: string[], timeoutMs: number): Promise<{ exitCode: number | null; output: string }> {
    let output = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (output.length < 16_384) output += chunk.toString('utf8');
        cb();
      },
    });
    let status: V1Status | undefined;
    const ws = await new Exec(this.opts.kubeConfig).exec(this.opts.namespace, name, CONTAINER.keep, command, sink, sink, null, false, (s) => {
      status = s;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error(`${command.join(' ')} in pod ${name} did not finish within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      ws.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.on('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    if (!status) return { exitCode: null, output };
    if (status.status === 'Success') return { exitCode: 0, output };
    const code = status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
    return { exitCode: code !== undefined ? Number(code) : null, output: output || status.message || '' };
  }

  private async deletePod(name: string, graceSeconds: number): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({ name, namespace: this.opts.namespace, gracePeriodSeconds: graceSeconds });
    } catch (err) {
      if (apiStatus(err) !== 404) throw err;
    }
  }

  /**
   * The outputs as the sidecar uploaded them. It uploads after `run` ended, so this first waits
   * (heartbeating) for the sidecar to end.
   */
  async collect(ctx: AttemptContext, progress: () => void): Promise<{ contents: StoredContent[]; problems: string[] }> {
    const name = this.podName(ctx);
    const deadline = Date.now() + (this.opts.uploadTimeoutMs ?? (3600 + 60) * 1000);
    let pod = await this.read(name);
    // The Pod's phase may turn Succeeded while the sidecar still uploads (seen on 1.34): only a
    // sidecar that ended, or one that never ran in a Pod that ended, means the uploads are over.
    const uploading = (p: V1Pod) => {
      const keep = keepStatus(p)?.state;
      return keep?.terminated ? false : keep?.running ? true : !podEnded(p);
    };
    // Every output recorded is as good as the sidecar's end, and comes sooner: the kubelet
    // reports a container's end only at its next relist, up to a second later.
    let recorded = await this.opts.uploads(ctx);
    const allRecorded = () => ctx.outputs.every((o) => recorded.some((u) => u.idx === o.idx));
    while (pod && uploading(pod) && !allRecorded() && Date.now() < deadline) {
      progress();
      // The run waits on this: a short poll, the uploads usually take well under a second.
      await sleep(250);
      pod = await this.read(name);
      recorded = await this.opts.uploads(ctx);
    }
    const uploads = new Map(recorded.map((u) => [u.idx, u]));
    const contents: StoredContent[] = [];
    const problems: string[] = [];
    for (const output of ctx.outputs) {
      const u = uploads.get(output.idx);
      if (!u) {
        const lost = missingUploadProblem(pod);
        if (lost) problems.push(`output ${output.path} was not uploaded: ${lost}`);
        // As the Docker executor does with an output it cannot store: empty, and a loss fails the run.
        contents.push(await this.storeEmpty(output.dataId));
        continue;
      }
      if (u.problem) problems.push(u.problem);
      contents.push({ dataId: u.dataId, size: u.size, digest: u.digest, blobKey: u.blobKey });
    }
    return { contents, problems };
  }

  private async storeEmpty(dataId: string): Promise<StoredContent> {
    const dir = await mkdtemp(join(tmpdir(), 'knit-empty-'));
    try {
      const key = blobKeyOf(dataId);
      const info = await this.opts.store.put(key, packDirectory(dir, await planPack(dir)));
      return { dataId, size: info.size, digest: info.digest, blobKey: key };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Deletes the Pod at once and waits (bounded) until the API server no longer has it. */
  async release(ctx: AttemptContext): Promise<void> {
    const name = this.podName(ctx);
    await this.deletePod(name, 0);
    const deadline = Date.now() + RELEASE_TIMEOUT_MS;
    while (await this.read(name)) {
      if (Date.now() > deadline) throw new Error(`the Pod ${name} of run ${ctx.runId} is still there ${RELEASE_TIMEOUT_MS / 1000} s after its deletion`);
      await sleep(500);
    }
  }

  async *leftovers(): AsyncIterable<{ runId: string; attempt: number; remove(): Promise<void> }> {
    let _continue: string | undefined;
    do {
      const page = await this.core.listNamespacedPod({ namespace: this.opts.namespace, labelSelector: `${LABEL_INSTANCE}=${this.opts.instance}`, limit: 200, ...(_continue ? { _continue } : {}) });
      for (const pod of page.items) {
        const runId = pod.metadata?.labels?.[LABEL_RUN];
        const attempt = Number(pod.metadata?.labels?.[LABEL_ATTEMPT]);
        const name = pod.metadata?.name;
        if (!runId || !name || !Number.isInteger(attempt)) continue;
        yield { runId, attempt, remove: () => this.deletePod(name, 0) };
      }
      _continue = page.metadata?._continue || undefined;
    } while (_continue);
  }
}
