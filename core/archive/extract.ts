import { write as fsWrite, closeSync, fchmodSync, futimesSync, lstatSync, mkdirSync, openSync, writeSync, symlinkSync, linkSync, realpathSync } from 'node:fs';
import { readdir, realpath, chmod, utimes } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { ArchiveChecker, UnsafeEntryError } from './entry-rules.js';
import type { TarHeader } from './tar-format.js';
import { TarReader } from './tar-reader.js';
import { asArchiveError, countEntry, emptyStats, type ArchiveStats } from './validate.js';

// setuid, setgid and sticky bits are not restored: Data is content, not an installation.
const MODE_MASK = 0o777;
const WRITE_SIZE = 1 << 20;

/**
 * Writes file content in large blocks. Network chunks are small, so they are gathered into one
 * of two reused buffers; a full buffer is written on the thread pool while the other fills, so
 * disk writes overlap with receiving and hashing. Everything else about a file (open, chmod,
 * close) is a quick synchronous call: going through the thread pool for each would cost more
 * than the call itself when an archive holds thousands of small files.
 */
class ContentWriter {
  private readonly buffers = [Buffer.allocUnsafe(WRITE_SIZE), Buffer.allocUnsafe(WRITE_SIZE)];
  private active = 0;
  private filled = 0;
  private inFlight: Promise<void> | undefined;

  async write(fd: number, chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const n = chunk.copy(this.buffers[this.active]!, this.filled, off);
      this.filled += n;
      off += n;
      if (this.filled === WRITE_SIZE) await this.swap(fd);
    }
  }

  private async swap(fd: number): Promise<void> {
    await this.inFlight;
    const buf = this.buffers[this.active]!;
    const len = this.filled;
    this.inFlight = writeAll(fd, buf, len);
    this.active = 1 - this.active;
    this.filled = 0;
  }

  /** Writes what is left of the current file and waits until all of it is on its way to disk. */
  async finish(fd: number): Promise<void> {
    await this.inFlight;
    this.inFlight = undefined;
    let off = 0;
    const buf = this.buffers[this.active]!;
    while (off < this.filled) off += writeSync(fd, buf, off, this.filled - off);
    this.filled = 0;
  }

  async settle(): Promise<void> {
    await this.inFlight?.catch(() => {});
  }
}

async function writeAll(fd: number, buf: Buffer, len: number): Promise<void> {
  let off = 0;
  while (off < len) off += await new Promise<number>((resolve, reject) => fsWrite(fd, buf, off, len - off, null, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * Extracts a Data archive into `dest`, which must be an empty directory. Every entry is checked
 * before anything is written for it, and every write lands strictly inside `dest`: absolute
 * paths, `..`, symlinks that point out and writes through symlinks are refused with an error.
 * Callers extract into a fresh staging directory and move it into place only on success, so a
 * refused archive leaves nothing behind.
 */
export async function extractArchive(source: Readable | AsyncIterable<Buffer>, dest: string): Promise<ArchiveStats> {
  const root = await realpath(dest);
  if ((await readdir(root)).length > 0) throw new Error(`extraction target ${dest} is not empty`);
  const checker = new ArchiveChecker();
  const stats = emptyStats();
  const dirs: Array<{ path: string; mode: number; mtime: Date }> = [];
  const knownDirs = new Set<string>([root]);
  let file: { fh: number; header: TarHeader } | undefined;
  const writer = new ContentWriter();

  /** Creates (once) the parent of `target`, and proves it resolves inside the root. */
  const parentOf = async (target: string): Promise<void> => {
    const parent = dirname(target);
    if (knownDirs.has(parent)) return;
    mkdirSync(parent, { recursive: true });
    const real = realpathSync(parent);
    if (real !== root && !real.startsWith(root + sep)) throw new UnsafeEntryError(parent, 'resolves outside the extraction directory');
    knownDirs.add(parent);
  };

  const reader = new TarReader({
    entry: async (h) => {
      const checked = checker.check(h);
      countEntry(stats, checked.kind, h.size);
      const mode = h.mode & MODE_MASK;
      if (checked.path === '') {
        dirs.push({ path: root, mode, mtime: h.mtime });
        return;
      }
      const target = join(root, ...checked.path.split('/'));
      await parentOf(target);
      switch (checked.kind) {
        case 'directory':
          mkdirSync(target, { recursive: true });
          knownDirs.add(target);
          dirs.push({ path: target, mode, mtime: h.mtime });
          return;
        case 'file': {
          // 'wx' = O_CREAT|O_EXCL: never follows or replaces an existing path, symlinks included.
          const fh = openSync(target, 'wx', 0o600);
          file = { fh, header: h };
          return;
        }
        case 'symlink':
          symlinkSync(checked.linkTarget!, target);
          return;
        case 'hardlink': {
          const from = join(root, ...checked.linkTarget!.split('/'));
          if (!lstatSync(from).isFile()) throw new UnsafeEntryError(checked.path, 'hard link target is not a regular file');
          linkSync(from, target);
          return;
        }
      }
    },
    data: (chunk) => writer.write(file!.fh, chunk),
    entryEnd: async () => {
      if (!file) return;
      const { fh, header } = file;
      file = undefined;
      try {
        await writer.finish(fh);
        fchmodSync(fh, header.mode & MODE_MASK);
        futimesSync(fh, header.mtime, header.mtime);
      } finally {
        closeSync(fh);
      }
    },
  });

  try {
    for await (const chunk of source as AsyncIterable<Buffer>) await reader.write(chunk);
    reader.end();
  } catch (err) {
    throw asArchiveError(err);
  } finally {
    await writer.settle();
    if (file) closeSync(file.fh);
  }

  // Deepest first, so a read-only directory is locked only after its children are written.
  for (const d of dirs.sort((a, b) => b.path.length - a.path.length)) {
    await chmod(d.path, d.mode);
    await utimes(d.path, d.mtime, d.mtime);
  }
  return stats;
}
