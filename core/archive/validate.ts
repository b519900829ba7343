import { Transform, type TransformCallback } from 'node:stream';
import { ArchiveChecker, UnsafeEntryError, type EntryKind } from './entry-rules.js';
import { TarFormatError } from './tar-format.js';
import { TarReader } from './tar-reader.js';

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

/** Format problems become MalformedArchiveError; unsafe entries stay UnsafeEntryError. */
export function asArchiveError(err: unknown): Error {
  if (err instanceof TarFormatError) return new MalformedArchiveError(`not a valid tar archive: ${err.message}`, { cause: err });
  return err as Error;
}

/**
 * A pass-through that parses the tar flowing through it and fails the stream at the first entry
 * that breaks the Data archive rules, or when the archive is compressed, corrupt or cut short.
 * Bytes pass on unchanged, so it can sit between an upload and blob storage.
 */
export class ArchiveValidator extends Transform {
  readonly stats: ArchiveStats = emptyStats();
  private readonly checker = new ArchiveChecker();
  private readonly reader: TarReader;

  constructor() {
    super();
    this.reader = new TarReader({
      entry: (h) => {
        const checked = this.checker.check(h);
        countEntry(this.stats, checked.kind, h.size);
      },
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (chunk.length === 0) return cb();
    this.reader.write(chunk).then(
      () => cb(null, chunk),
      (err: unknown) => cb(asArchiveError(err)),
    );
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.reader.end();
      cb();
    } catch (err) {
      cb(asArchiveError(err));
    }
  }
}

export { UnsafeEntryError };
