import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { z } from 'zod';
import { extractArchive } from '../core/archive/extract.js';
import { packDirectory, planPack } from '../core/archive/pack.js';
import { DataDetail } from '../core/data/model.js';
import { KnitError } from '../core/errors/knit-error.js';
import { VerifyingStream } from '../core/storage/digest.js';
import { readJson, send, type Connection, type Query } from './http.js';

export interface DataFindQuery {
  tags?: readonly string[];
  since?: string;
  duration?: string;
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

  health() {
    return this.json(HealthBody, 'GET', '/api/health');
  }

  /** Registers a tar stream as new Data with `tags`. */
  pushArchive(archive: Readable, tags: readonly string[]): Promise<DataDetail> {
    return send(this.conn, {
      method: 'POST',
      path: '/api/data',
      query: { tag: tags },
      headers: { 'content-type': 'application/x-tar' },
      stream: archive,
    }).then(async (res) => DataDetail.parse(await readJson(res)));
  }

  /** Packs `dir` (streaming, never buffered whole) and registers it as new Data. */
  async pushDirectory(dir: string, tags: readonly string[], onProgress?: Progress): Promise<DataDetail> {
    const st = await stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new KnitError('bad_request', `${dir}: not a directory; knit data push takes directories`, { field: 'DIR' });
    const plan = await planPack(dir);
    const archive = packDirectory(dir, plan, onProgress ? (n) => onProgress(n, plan.contentBytes) : undefined);
    return this.pushArchive(archive, tags);
  }

  findData(q: DataFindQuery = {}): Promise<DataDetail[]> {
    return this.json(z.array(DataDetail), 'GET', '/api/data', { query: { tag: q.tags ?? [], since: q.since, duration: q.duration } });
  }

  getData(id: string): Promise<DataDetail> {
    return this.json(DataDetail, 'GET', `/api/data/${encodeURIComponent(id)}`);
  }

  tagData(id: string, change: TagChangeRequest): Promise<DataDetail> {
    return this.json(DataDetail, 'PUT', `/api/data/${encodeURIComponent(id)}/tags`, {
      json: { add: change.add ?? [], remove: change.remove ?? [], removeKey: change.removeKey ?? [] },
    });
  }

  /** The archive as a stream that fails at its end unless the content matches the digest. */
  async openData(id: string): Promise<{ stream: Readable; size: number; digest: string }> {
    const res = await send(this.conn, { method: 'GET', path: `/api/data/${encodeURIComponent(id)}/content`, headers: { accept: 'application/x-tar' } });
    const digest = String(res.headers['x-knit-digest'] ?? '');
    const size = Number(res.headers['content-length'] ?? NaN);
    if (!digest.startsWith('sha256:')) {
      res.destroy();
      throw new KnitError('internal', 'the server sent no x-knit-digest header; refusing unverifiable content');
    }
    const verified = new VerifyingStream(digest, Number.isFinite(size) ? size : undefined);
    res.on('error', (err) => {
      verified.destroy(
        new KnitError(
          'unavailable',
          `the download of ${id} was cut short (${err.message}); the server ends a download early when the stored content fails its digest check, so see its log`,
          { cause: err },
        ),
      );
    });
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
  async pullData(id: string, destDir: string, opts: { extract?: boolean; onProgress?: Progress } = {}): Promise<PullResult> {
    const dest = resolve(destDir);
    await mkdir(dest, { recursive: true });
    const final = join(dest, opts.extract ? id : `${id}.tar`);
    if (await stat(final).catch(() => undefined)) {
      throw new KnitError('conflict', `${final} already exists; remove it or pull into another directory`, { field: 'DEST' });
    }
    const staging = join(dest, `.${id}.partial-${randomBytes(4).toString('hex')}`);
    try {
      if (opts.extract) await mkdir(staging);
      const { stream, size, digest } = await this.openData(id);
      const progress = new ProgressCounter(size, opts.onProgress);
      if (opts.extract) {
        await extractArchive(pipeline(stream, progress, () => {}) as Readable, staging);
      } else {
        await pipelineAsync(stream, progress, createWriteStream(staging, { flags: 'wx' }));
      }
      await rename(staging, final);
      return { path: final, size, digest };
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
  }
}

/** Counts bytes on their way through, for a progress bar. */
class ProgressCounter extends Transform {
  private done = 0;
  constructor(
    private readonly total: number,
    private readonly onProgress: Progress | undefined,
  ) {
    super({ highWaterMark: 1 << 20 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.done += chunk.length;
    this.onProgress?.(this.done, this.total);
    cb(null, chunk);
  }
}
