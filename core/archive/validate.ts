import { Transform, type TransformCallback } from 'node:stream';
import tarStream from 'tar-stream';
import { ArchiveChecker, UnsafeEntryError, type EntryKind } from './entry-rules.js';
import { looksCompressed, toEntryHeader } from './tar-types.js';

export interface ArchiveStats {
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  /** Sum of file content sizes, not the archive size. */
  contentBytes: number;
}

export class MalformedArchiveError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MalformedArchiveError';
  }
}

export function emptyStats(): ArchiveStats {
  return { files: 0, directories: 0, symlinks: 0, hardlinks: 0, contentBytes: 0 };
}

export function countEntry(stats: ArchiveStats, kind: EntryKind, size: number): void {
  if (kind === 'file') {
    stats.files++;
    stats.contentBytes += size;
  } else if (kind === 'directory') stats.directories++;
  else if (kind === 'symlink') stats.symlinks++;
  else stats.hardlinks++;
}

const EOF_MARKER = 1024;

/**
 * A pass-through that parses the tar flowing through it and fails the stream at the first entry
 * that breaks the Data archive rules, or when the archive is compressed, corrupt or cut short.
 * Bytes pass on unchanged, so it can sit between an upload and blob storage.
 */
export class ArchiveValidator extends Transform {
  readonly stats: ArchiveStats = emptyStats();
  private readonly checker = new ArchiveChecker();
  private readonly parser = tarStream.extract();
  private failure: Error | undefined;
  private sniffed = false;
  private tail: Buffer = Buffer.alloc(0);
  private finished = false;

  constructor() {
    super({ highWaterMark: 1 << 20 });
    this.parser.on('entry', (header, body, next) => {
      body.on('error', () => {});
      try {
        const checked = this.checker.check(toEntryHeader(header));
        countEntry(this.stats, checked.kind, header.size ?? 0);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      body.on('end', () => next());
      body.resume();
    });
    this.parser.on('error', (err: Error) => this.fail(new MalformedArchiveError(`not a valid tar archive: ${err.message}`, { cause: err })));
    this.parser.on('finish', () => {
      this.finished = true;
    });
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    // Destroyed without the error: it is reported once, by this stream.
    this.parser.destroy(undefined);
    this.destroy(err);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.failure) return cb(this.failure);
    if (chunk.length === 0) return cb();
    if (!this.sniffed) {
      this.sniffed = true;
      if (looksCompressed(chunk)) return cb(new MalformedArchiveError('the archive is compressed; send a plain (uncompressed) tar'));
    }
    this.remember(chunk);
    this.push(chunk);
    if (this.parser.write(chunk)) cb();
    else this.parser.once('drain', () => cb(this.failure));
  }

  /** Keeps the last 1024 bytes: a complete tar always ends with two zero blocks. */
  private remember(chunk: Buffer): void {
    if (chunk.length >= EOF_MARKER) this.tail = Buffer.from(chunk.subarray(chunk.length - EOF_MARKER));
    else this.tail = Buffer.concat([this.tail, chunk]).subarray(-EOF_MARKER);
  }

  override _flush(cb: TransformCallback): void {
    if (this.failure) return cb(this.failure);
    if (!this.sniffed) return cb(new MalformedArchiveError('the archive is empty; send a tar archive of a directory'));
    if (this.tail.length < EOF_MARKER || this.tail.some((b) => b !== 0)) {
      return cb(new MalformedArchiveError('the archive has no end-of-archive marker; it was cut short or is not a tar'));
    }
    this.parser.end(undefined);
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      cb(this.finished ? this.failure : (this.failure ?? new MalformedArchiveError('the archive ended in the middle of an entry')));
    };
    if (this.finished) settle();
    else {
      this.parser.once('finish', settle);
      this.parser.once('close', settle);
    }
  }
}

export { UnsafeEntryError };
