import { open, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** How much may be written before the next background flush to disk starts. */
const FLUSH_EVERY = 64 << 20;

/**
 * Writes a new file and makes it durable. Data is flushed to disk in the background every
 * 64 MiB while writing continues, so the final fsync has little left to do: the cost of
 * durability overlaps with receiving the upload instead of stalling at its end.
 */
export class DurableFileWriter extends Writable {
  private fh: FileHandle | undefined;
  private sinceFlush = 0;
  private flushing: Promise<void> | undefined;
  private flushError: Error | undefined;

  constructor(private readonly path: string) {
    super({ highWaterMark: 1 << 20 });
  }

  override _construct(cb: (err?: Error | null) => void): void {
    open(this.path, 'wx', 0o644).then(
      (fh) => {
        this.fh = fh;
        cb();
      },
      (err: Error) => cb(err),
    );
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    this.writeAll(buffers).then(() => cb(), cb);
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    let pending = buffers;
    while (pending.length > 0) {
      const total = pending.reduce((n, b) => n + b.length, 0);
      const { bytesWritten } = await this.fh!.writev(pending);
      this.sinceFlush += bytesWritten;
      if (bytesWritten === total) break;
      pending = skip(pending, bytesWritten);
    }
    if (this.sinceFlush >= FLUSH_EVERY && this.flushing === undefined) {
      this.sinceFlush = 0;
      // A failed background flush fails the next write or the end of the file, never the process.
      this.flushing = this.fh!.datasync().then(
        () => {
          this.flushing = undefined;
        },
        (err: Error) => {
          this.flushing = undefined;
          this.flushError = err;
        },
      );
    }
    if (this.flushError) throw this.flushError;
  }

  override _final(cb: (err?: Error | null) => void): void {
    (async () => {
      await this.flushing;
      if (this.flushError) throw this.flushError;
      await this.fh!.sync();
      await this.fh!.close();
      this.fh = undefined;
    })().then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const fh = this.fh;
    this.fh = undefined;
    if (!fh) return cb(err);
    Promise.resolve(this.flushing)
      .then(() => fh.close())
      .then(
        () => cb(err),
        () => cb(err),
      );
  }
}

function skip(buffers: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  let left = n;
  for (const b of buffers) {
    if (left >= b.length) {
      left -= b.length;
      continue;
    }
    out.push(left > 0 ? b.subarray(left) : b);
    left = 0;
  }
  return out;
}
