import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertValidKey, BlobNotFoundError, type BlobEntry, type BlobInfo, type BlobStore } from './blob-store.js';
import { Digester, formatDigest } from './digest.js';
import { DurableFileWriter } from './durable-file.js';

/**
 * Blob storage in a local folder: `objects/<key>` for committed objects and `incoming/` for
 * uploads in progress. A put is made durable by fsync, then published by an atomic rename.
 */
export class LocalBlobStore implements BlobStore {
  readonly kind = 'local';
  private readonly objects: string;
  private readonly incoming: string;

  constructor(readonly root: string) {
    this.objects = join(root, 'objects');
    this.incoming = join(root, 'incoming');
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    return join(this.objects, ...key.split('/'));
  }

  async put(key: string, body: Readable, opts: { signal?: AbortSignal } = {}): Promise<BlobInfo> {
    const final = this.pathOf(key);
    await mkdir(this.incoming, { recursive: true });
    const tmp = join(this.incoming, `${Date.now()}-${randomUUID()}`);
    const digester = new Digester();
    try {
      await pipeline(body, digester, new DurableFileWriter(tmp), opts.signal ? { signal: opts.signal } : {});
      await mkdir(dirname(final), { recursive: true });
      await rename(tmp, final);
      await fsyncPath(dirname(final));
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
    return { key, size: digester.size, digest: formatDigest(digester.sha256) };
  }

  async get(key: string): Promise<Readable> {
    const path = this.pathOf(key);
    const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? new BlobNotFoundError(key) : err;
    });
    return createReadStream('', { fd: fh, highWaterMark: 1 << 20 });
  }

  async stat(key: string): Promise<BlobEntry | undefined> {
    try {
      const s = await stat(this.pathOf(key));
      return { key, size: s.size, modified: s.mtime };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async *list(prefix: string): AsyncIterable<BlobEntry> {
    yield* this.walk(this.folderOf(prefix));
  }

  private async *walk(dir: string): AsyncIterable<BlobEntry> {
    for (const e of await this.entriesOf(dir)) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        yield* this.walk(p);
      } else if (e.isFile()) {
        const s = await stat(p).catch(() => undefined);
        if (s) yield { key: this.keyOf(p), size: s.size, modified: s.mtime };
      }
    }
  }

  async *emptyFolders(prefix: string): AsyncIterable<string> {
    const start = this.folderOf(prefix);
    const walk = async function* (this: LocalBlobStore, dir: string): AsyncIterable<string> {
      const entries = await this.entriesOf(dir);
      if (entries.length === 0 && dir !== start) yield `${this.keyOf(dir)}/`;
      for (const e of entries) if (e.isDirectory()) yield* walk.call(this, join(dir, e.name));
    };
    yield* walk.call(this, start);
  }

  async removeEmptyFolder(folder: string, prefix: string): Promise<void> {
    const stop = this.folderOf(prefix);
    let dir = this.folderOf(folder);
    if (!dir.startsWith(`${stop}${sep}`)) throw new Error(`folder ${folder} is not under ${prefix}`);
    while (dir.startsWith(`${stop}${sep}`)) {
      try {
        await rmdir(dir);
      } catch (err) {
        // Not empty (something was written meanwhile) or already gone: either way, stop here.
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOENT') return;
        throw err;
      }
      dir = dirname(dir);
    }
  }

  /** The folder a key prefix (`live/run/1/` or `live/run/1`) names; the root for ''. */
  private folderOf(prefix: string): string {
    return prefix === '' ? this.objects : join(this.objects, ...prefix.replace(/\/$/, '').split('/'));
  }

  private keyOf(path: string): string {
    return relative(this.objects, path).split(sep).join('/');
  }

  /** A folder's entries; none when it does not exist (a prefix nothing was stored under). */
  private async entriesOf(dir: string): Promise<import('node:fs').Dirent[]> {
    try {
      return await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async sweepIncomplete(before: Date): Promise<number> {
    let removed = 0;
    let names: string[];
    try {
      names = await readdir(this.incoming);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    for (const name of names) {
      const p = join(this.incoming, name);
      const s = await stat(p).catch(() => undefined);
      if (s && s.mtime < before) {
        await rm(p, { force: true, recursive: true });
        removed++;
      }
    }
    return removed;
  }
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
