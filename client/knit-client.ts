import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join, resolve } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { extractArchive } from '../core/archive/extract.js';
import { planPack, writeArchive, type PlanPackOptions } from '../core/archive/pack.js';
import { ACCEPT_REDIRECT, DIGEST_HEADER, SIGNED_URL, SignedRedirect, SIZE_HEADER } from '../core/data/content-redirect.js';
import { DataDetail } from '../core/data/model.js';
import { ProvenanceDiff } from '../core/lineage/diff.js';
import { Lineage } from '../core/lineage/graph.js';
import { Impact } from '../core/lineage/impact.js';
import { ApplyResult, PlanDetail } from '../core/plan/model.js';
import type { PlanGraph } from '../core/plan/graph-dot.js';
import { RunEvent } from '../core/run/events.js';
import { RunDetail, StopResult } from '../core/run/model.js';
import { isTerminal } from '../core/run/status.js';
import { KnitError } from '../core/errors/knit-error.js';
import { LIMITS } from '../core/limits/limits.js';
import { nextCursor } from '../core/page/link.js';
import { DigestCheck, VerifyingStream } from '../core/storage/digest.js';
import { chunksOf } from '../core/streams/chunks.js';
import { memoryRelief } from '../core/streams/memory-relief.js';
import { getForeign, readJson, send, type Connection, type Query } from './http.js';
import { isUuid } from '../core/tags/tag.js';
import { readServerSentEvents } from './sse.js';

/** How long a follower whose event stream broke off waits before it follows again. */
const RECONNECT_MS = 1000;

/** The API could not be reached, or the connection broke midway: worth following again. */
function brokeOff(err: unknown): boolean {
  if (err instanceof KnitError) return err.code === 'unavailable';
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED' || (err as Error).message === 'aborted';
}

export interface DataFindQuery {
  tags?: readonly string[];
  since?: string;
  duration?: string;
  /** At most this many, the oldest first. */
  max?: number;
}

export interface TagChangeRequest {
  add?: readonly string[];
  remove?: readonly string[];
  removeKey?: readonly string[];
}

export interface Progress {
  (doneBytes: number, totalBytes: number): void;
}

export interface PullResult {
  /** The archive file, or the extracted directory. */
  path: string;
  size: number;
  digest: string;
}

const HealthBody = z.object({ status: z.string(), version: z.string(), storage: z.string() });
const PlanGraphBody = z.object({
  plans: z.array(z.object({ id: z.string(), image: z.string(), active: z.boolean() })),
  edges: z.array(z.object({ from: z.string(), output: z.string(), to: z.string(), input: z.string() })),
});

/**
 * A typed client for the knit REST API. The CLI is built on it, and other services can use it
 * to push data and follow what knit does with it.
 */
export class KnitClient {
  constructor(readonly conn: Connection) {}

  private async json<S extends z.ZodType>(schema: S, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, opts: { query?: Query; json?: unknown } = {}): Promise<z.output<S>> {
    const res = await send(this.conn, { method, path, ...opts });
    return schema.parse(await readJson(res));
  }

  /**
   * Every item of a paginated list, following each page's rel="next" Link; with `max`, at most
   * that many (asking no more of the server than that).
   */
  private async list<S extends z.ZodType>(item: S, path: string, query: Query, max?: number): Promise<z.output<S>[]> {
    const page = z.array(item);
    const items: z.output<S>[] = [];
    let after: string | undefined;
    for (;;) {
      const limit = max === undefined ? LIMITS.pageMax : Math.min(LIMITS.pageMax, max - items.length);
      const res = await send(this.conn, { method: 'GET', path, query: { ...query, limit: String(limit), ...(after === undefined ? {} : { after }) } });
      const next = nextCursor(res.headers.link);
      items.push(...page.parse(await readJson(res)));
      if (next === undefined || (max !== undefined && items.length >= max)) return items;
      // A server handing back the cursor it was given would keep this loop going for ever.
      if (next === after) throw new KnitError('internal', `the server gave the same next page of ${path} twice; it is not paginating properly`);
      after = next;
    }
  }

  health() {
    return this.json(HealthBody, 'GET', '/api/health');
  }

  /** Registers a tar archive, given as a stream or written by a function, as new Data with `tags`. */
  async pushArchive(archive: Readable | ((sink: Writable) => Promise<void>), tags: readonly string[]): Promise<DataDetail> {
    const res = await send(this.conn, {
      method: 'POST',
      path: '/api/data',
      query: { tag: tags },
      headers: { 'content-type': 'application/x-tar' },
      upload: archive,
    });
    return DataDetail.parse(await readJson(res));
  }

  // ---------- plans ----------

  /** Applies a plan spec (as parsed from YAML). With `dryRun`, reports what it would do. */
  applyPlan(spec: unknown, opts: { dryRun?: boolean; yes?: boolean } = {}): Promise<ApplyResult> {
    return this.json(ApplyResult, 'POST', '/api/plans', { query: { dryRun: String(opts.dryRun ?? false), yes: String(opts.yes ?? false) }, json: spec });
  }

  getPlan(id: string): Promise<PlanDetail> {
    return this.json(PlanDetail, 'GET', `/api/plans/${encodeURIComponent(id)}`);
  }

  findPlans(q: { active?: boolean; image?: string; inTags?: readonly string[]; outTags?: readonly string[]; max?: number } = {}): Promise<PlanDetail[]> {
    const query = { active: q.active === undefined ? undefined : String(q.active), image: q.image, in: q.inTags ?? [], out: q.outTags ?? [] };
    return this.list(PlanDetail, '/api/plans', query, q.max);
  }

  setPlanActive(id: string, active: boolean): Promise<PlanDetail> {
    return this.json(PlanDetail, 'PUT', `/api/plans/${encodeURIComponent(id)}/active`, { json: { active } });
  }

  changePlanResources(id: string, change: { set?: Record<string, string>; unset?: readonly string[] }): Promise<PlanDetail> {
    return this.json(PlanDetail, 'PUT', `/api/plans/${encodeURIComponent(id)}/resources`, { json: { set: change.set ?? {}, unset: change.unset ?? [] } });
  }

  /** Sets the service account a plan's runs get, or with null unsets it. */
  setPlanServiceAccount(id: string, serviceAccount: string | null): Promise<PlanDetail> {
    return this.json(PlanDetail, 'PUT', `/api/plans/${encodeURIComponent(id)}/serviceaccount`, { json: { serviceAccount } });
  }

  annotatePlan(id: string, change: { add?: readonly string[]; remove?: readonly string[]; removeKey?: readonly string[] }): Promise<PlanDetail> {
    return this.json(PlanDetail, 'PUT', `/api/plans/${encodeURIComponent(id)}/annotations`, {
      json: { add: change.add ?? [], remove: change.remove ?? [], removeKey: change.removeKey ?? [] },
    });
  }

  /** Every plan and what feeds what; around one plan only, with `plan` and how far up and down. */
  planGraph(around?: { plan: string; up: number | 'all'; down: number | 'all' }): Promise<PlanGraph> {
    if (!around) return this.json(PlanGraphBody, 'GET', '/api/plans/graph');
    const query = { up: String(around.up), down: String(around.down) };
    return this.json(PlanGraphBody, 'GET', `/api/lineage/plans/${encodeURIComponent(around.plan)}`, { query });
  }

  // ---------- runs ----------

  findRuns(q: { plans?: readonly string[]; inputs?: readonly string[]; outputs?: readonly string[]; statuses?: readonly string[]; since?: string; duration?: string; max?: number } = {}): Promise<RunDetail[]> {
    const query = { plan: q.plans ?? [], in: q.inputs ?? [], out: q.outputs ?? [], status: q.statuses ?? [], since: q.since, duration: q.duration };
    return this.list(RunDetail, '/api/runs', query, q.max);
  }

  getRun(id: string): Promise<RunDetail> {
    return this.json(RunDetail, 'GET', `/api/runs/${encodeURIComponent(id)}`);
  }

  /**
   * The run's changes as the API pushes them (Server-Sent Events): `run` at once and after each
   * change, `log` chunks with `log`, `end` once it has ended. Ends when the server closes the
   * stream or `signal` aborts.
   */
  async *runEvents(id: string, opts: { log?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<RunEvent> {
    const res = await send(this.conn, {
      method: 'GET',
      path: `/api/runs/${encodeURIComponent(id)}/events`,
      query: { log: String(opts.log ?? false) },
      headers: { accept: 'text/event-stream' },
    });
    const close = () => res.destroy();
    opts.signal?.addEventListener('abort', close, { once: true });
    try {
      for await (const raw of readServerSentEvents(res)) {
        const e = RunEvent.safeParse({ event: raw.event, data: JSON.parse(raw.data) });
        // An event of a newer server that this client does not know is skipped, not fatal.
        if (e.success) yield e.data;
      }
    } catch (err) {
      if (!opts.signal?.aborted) throw err;
    } finally {
      opts.signal?.removeEventListener('abort', close);
      res.destroy();
    }
  }

  /**
   * Resolves once the run is done, failed or invalidated, told by the API's pushed events; a
   * stream that breaks off (knitd restarting) is followed again until the timeout.
   */
  async waitRun(id: string, opts: { timeoutMs?: number; onChange?: (run: RunDetail) => void } = {}): Promise<RunDetail> {
    const timeout = new AbortController();
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => timeout.abort(), opts.timeoutMs);
    let last: RunDetail | undefined;
    try {
      while (!timeout.signal.aborted) {
        try {
          for await (const e of this.runEvents(id, { signal: timeout.signal })) {
            if (e.event === 'run' || e.event === 'end') {
              last = e.data;
              opts.onChange?.(e.data);
              if (isTerminal(e.data.status)) return e.data;
            }
          }
        } catch (err) {
          // Bad ids and refused tokens are answers, not breaks: only a lost API is followed again.
          if (!brokeOff(err)) throw err;
        }
        if (!timeout.signal.aborted) await sleep(RECONNECT_MS, undefined, { signal: timeout.signal }).catch(() => {});
      }
      const status = last?.status ?? 'unknown';
      throw new KnitError('unavailable', `run ${id} is still ${status} after the timeout`, { details: { status } });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The run's log as text: stored so far, or (with `follow`) until the run ends. */
  async runLog(id: string, opts: { follow?: boolean } = {}): Promise<IncomingMessage> {
    return send(this.conn, { method: 'GET', path: `/api/runs/${encodeURIComponent(id)}/log`, query: { follow: String(opts.follow ?? false) }, headers: { accept: 'text/plain' } });
  }

  /** The run; with a `notice` when the stop is recorded but will only reach the run later. */
  stopRun(id: string, opts: { fail?: boolean } = {}): Promise<StopResult> {
    return this.json(StopResult, 'POST', `/api/runs/${encodeURIComponent(id)}/stop`, { json: { fail: opts.fail ?? false } });
  }

  retryRun(id: string): Promise<RunDetail> {
    return this.json(RunDetail, 'POST', `/api/runs/${encodeURIComponent(id)}/retry`, { json: {} });
  }

  removeRun(id: string): Promise<RunDetail> {
    return this.json(RunDetail, 'DELETE', `/api/runs/${encodeURIComponent(id)}`);
  }

  // ---------- lineage ----------

  lineage(dataId: string, opts: { up: number | 'all'; down: number | 'all' }): Promise<Lineage> {
    return this.json(Lineage, 'GET', `/api/lineage/data/${encodeURIComponent(dataId)}`, { query: { up: String(opts.up), down: String(opts.down) } });
  }

  /** Every run and Data downstream of a Data, that would be stale were it wrong; changes nothing. */
  impact(dataId: string): Promise<Impact> {
    return this.json(Impact, 'GET', `/api/lineage/data/${encodeURIComponent(dataId)}/impact`);
  }

  /** Why two Data differ, by their provenance. */
  diff(a: string, b: string): Promise<ProvenanceDiff> {
    return this.json(ProvenanceDiff, 'GET', '/api/lineage/diff', { query: { a, b } });
  }

  /** Packs `dir` straight into the request (streaming, never buffered) and registers it as new Data. */
  /** Pushes a directory; with `dereference`, symlinks are followed and their targets stored in their place. */
  async pushDirectory(dir: string, tags: readonly string[], onProgress?: Progress, opts: PlanPackOptions = {}): Promise<DataDetail> {
    const st = await stat(dir).catch((err: NodeJS.ErrnoException) => err);
    if (st instanceof Error) throw new KnitError('bad_request', `${dir}: ${st.code === 'ENOENT' ? 'no such file or directory' : `cannot be read (${st.code ?? st.message})`}`, { field: 'DIR' });
    if (!st.isDirectory()) throw new KnitError('bad_request', `${dir}: not a directory; knit data push takes directories (push the folder that holds it)`, { field: 'DIR' });
    const plan = await planPack(dir, opts);
    return this.pushArchive(
      (sink) =>
        writeArchive(dir, plan, sink, {
          // The request hands each chunk to its socket before calling back, so buffers can be reused.
          reuseBuffers: true,
          ...(onProgress ? { onProgress: (n: number) => onProgress(n, plan.contentBytes) } : {}),
        }),
      tags,
    );
  }

  findData(q: DataFindQuery = {}): Promise<DataDetail[]> {
    return this.list(DataDetail, '/api/data', { tag: q.tags ?? [], since: q.since, duration: q.duration }, q.max);
  }

  getData(id: string): Promise<DataDetail> {
    return this.json(DataDetail, 'GET', `/api/data/${encodeURIComponent(id)}`);
  }

  tagData(id: string, change: TagChangeRequest): Promise<DataDetail> {
    return this.json(DataDetail, 'PUT', `/api/data/${encodeURIComponent(id)}/tags`, {
      json: { add: change.add ?? [], remove: change.remove ?? [], removeKey: change.removeKey ?? [] },
    });
  }

  /**
   * The archive's bytes with the size and digest knit recorded for them: from knitd, or, when
   * knitd's store signs URLs, straight from the store by the signed URL knitd redirects to.
   * Either way the caller verifies the bytes against knit's size and digest.
   */
  private async download(id: string): Promise<{ res: IncomingMessage; size: number; digest: string }> {
    const res = await send(this.conn, {
      method: 'GET',
      path: `/api/data/${encodeURIComponent(id)}/content`,
      headers: { accept: 'application/x-tar', ...(this.conn.signedUrls === false ? {} : { [ACCEPT_REDIRECT]: SIGNED_URL }) },
      takeRedirect: true,
    });
    if (res.statusCode !== undefined && res.statusCode >= 300) {
      res.resume();
      const parsed = SignedRedirect.safeParse({ location: res.headers.location, [DIGEST_HEADER]: res.headers[DIGEST_HEADER], [SIZE_HEADER]: res.headers[SIZE_HEADER] });
      if (res.statusCode !== 307 || !parsed.success) {
        const issue = parsed.success ? undefined : parsed.error.issues[0];
        throw new KnitError('internal', `the server answered HTTP ${res.statusCode} for data ${id} without a usable signed URL${issue ? ` (${String(issue.path[0])}: ${issue.message})` : ''}; refusing unverifiable content`);
      }
      const redirect = parsed.data;
      const blob = await getForeign(new URL(redirect.location), `the signed URL of data ${id}`);
      const sent = Number(blob.headers['content-length'] ?? NaN);
      if (Number.isFinite(sent) && sent !== redirect[SIZE_HEADER]) {
        blob.destroy();
        throw new KnitError('unavailable', `the blob store holds ${sent} bytes for data ${id}, knit recorded ${redirect[SIZE_HEADER]}; the stored object is corrupt or was replaced`);
      }
      return { res: blob, size: redirect[SIZE_HEADER], digest: redirect[DIGEST_HEADER] };
    }
    const digest = String(res.headers[DIGEST_HEADER] ?? '');
    const size = Number(res.headers['content-length'] ?? NaN);
    if (!digest.startsWith('sha256:')) {
      res.destroy();
      throw new KnitError('internal', 'the server sent no x-knit-digest header; refusing unverifiable content');
    }
    return { res, size, digest };
  }

  /** The archive as a stream that fails at its end unless the content matches the digest. */
  async openData(id: string): Promise<{ stream: Readable; size: number; digest: string }> {
    const { res, size, digest } = await this.download(id);
    const verified = new VerifyingStream(digest, Number.isFinite(size) ? size : undefined);
    res.on('error', (err) => verified.destroy(cutShort(id, err)));
    res.pipe(verified);
    // A consumer attaching later still sees the error: pipeline() and async iteration report it.
    verified.on('error', () => {});
    return { stream: verified, size, digest };
  }

  /**
   * Downloads Data into `destDir`: as `<id>.tar`, or extracted into `<id>/` with `extract`.
   * Content lands in a hidden staging path and is renamed into place only once its digest has
   * been verified, so a failed pull leaves nothing half-written.
   */
  async pullData(idOrPrefix: string, destDir: string, opts: { extract?: boolean; onProgress?: Progress } = {}): Promise<PullResult> {
    // The file is named by the full id: a prefix is resolved by the server first.
    const id = isUuid(idOrPrefix) ? idOrPrefix : (await this.getData(idOrPrefix)).id;
    const dest = resolve(destDir);
    await mkdir(dest, { recursive: true });
    const final = join(dest, opts.extract ? id : `${id}.tar`);
    if (await stat(final).catch(() => undefined)) {
      throw new KnitError('conflict', `${final} already exists; remove it or pull into another directory`, { field: 'DEST' });
    }
    const staging = join(dest, `.${id}.partial-${randomBytes(4).toString('hex')}`);
    try {
      if (opts.extract) await mkdir(staging);
      const { res, size, digest } = await this.download(id);
      const content = verifiedChunks(id, res, new DigestCheck(digest, Number.isFinite(size) ? size : undefined), (n) => opts.onProgress?.(n, size));
      if (opts.extract) await extractArchive(content, staging);
      else await writeChunks(staging, content);
      await rename(staging, final);
      return { path: final, size, digest };
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
  }
}

function cutShort(id: string, err: Error): KnitError {
  return new KnitError(
    'unavailable',
    `the download of ${id} was cut short (${err.message}); the server ends a download early when the stored content fails its digest check, so see its log`,
    { cause: err },
  );
}

/** The response's chunks, hashed and counted on the way; throws at the end unless the digest matches. */
async function* verifiedChunks(id: string, res: IncomingMessage, check: DigestCheck, onProgress: (done: number) => void): AsyncGenerator<Buffer> {
  let done = 0;
  const relieve = memoryRelief();
  try {
    for await (const chunk of chunksOf(res)) {
      check.update(chunk);
      relieve(chunk.length);
      done += chunk.length;
      onProgress(done);
      yield chunk;
    }
  } catch (err) {
    throw err instanceof KnitError ? err : cutShort(id, err as Error);
  }
  check.finish();
}

async function writeChunks(path: string, chunks: AsyncIterable<Buffer>): Promise<void> {
  const out = createWriteStream(path, { flags: 'wx', highWaterMark: 1 << 20 });
  await pipeline(Readable.from(chunks, { objectMode: false }), out);
}
