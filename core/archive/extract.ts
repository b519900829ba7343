import { createWriteStream } from 'node:fs';
import { chmod, link, lstat, mkdir, readdir, realpath, symlink, utimes } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { once, type EventEmitter } from 'node:events';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { ArchiveChecker, UnsafeEntryError } from './entry-rules.js';
import { looksCompressed, toEntryHeader } from './tar-types.js';
import { countEntry, emptyStats, MalformedArchiveError, type ArchiveStats } from './validate.js';

// setuid, setgid and sticky bits are not restored: Data is content, not an installation.
const MODE_MASK = 0o777;

/**
 * Extracts a Data archive into `dest`, which must be an empty directory. Every entry is checked
 * before anything is written for it, and every write lands strictly inside `dest`: absolute
 * paths, `..`, symlinks that point out and writes through symlinks are refused with an error.
 * Callers extract into a fresh staging directory and move it into place only on success, so a
 * refused archive leaves nothing behind.
 */
export async function extractArchive(source: Readable, dest: string): Promise<ArchiveStats> {
  const root = await realpath(dest);
  if ((await readdir(root)).length > 0) throw new Error(`extraction target ${dest} is not empty`);
  const checker = new ArchiveChecker();
  const stats = emptyStats();
  const dirs: Array<{ path: string; mode: number; mtime: Date | undefined }> = [];

  const inside = async (abs: string): Promise<void> => {
    const real = await realpath(abs);
    if (real !== root && !real.startsWith(root + sep)) throw new UnsafeEntryError(abs, 'resolves outside the extraction directory');
  };

  const writeEntry = async (header: tarStream.Header, body: Readable): Promise<void> => {
    const checked = checker.check(toEntryHeader(header));
    countEntry(stats, checked.kind, header.size ?? 0);
    const mode = (header.mode ?? 0o644) & MODE_MASK;
    if (checked.path === '') {
      dirs.push({ path: root, mode, mtime: header.mtime });
      body.resume();
      return;
    }
    const target = join(root, ...checked.path.split('/'));
    await mkdir(dirname(target), { recursive: true });
    await inside(dirname(target));
    switch (checked.kind) {
      case 'directory':
        await mkdir(target, { recursive: true });
        await inside(target);
        dirs.push({ path: target, mode, mtime: header.mtime });
        body.resume();
        return;
      case 'file':
        // 'wx' = O_CREAT|O_EXCL: never follows or replaces an existing path, symlinks included.
        await pipeline(body, createWriteStream(target, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 }));
        await chmod(target, mode);
        if (header.mtime) await utimes(target, header.mtime, header.mtime);
        return;
      case 'symlink':
        body.resume();
        await symlink(checked.linkTarget!, target);
        return;
      case 'hardlink': {
        body.resume();
        const from = join(root, ...checked.linkTarget!.split('/'));
        if (!(await lstat(from)).isFile()) throw new UnsafeEntryError(checked.path, 'hard link target is not a regular file');
        await link(from, target);
        return;
      }
    }
  };

  const parser = tarStream.extract();
  let failure: Error | undefined;
  let finished = false;
  const entriesDone = new Promise<void>((resolve, reject) => {
    const fail = (err: Error) => {
      if (finished) return;
      failure ??= err;
      parser.destroy(undefined);
      reject(failure);
    };
    parser.on('entry', (header, body, next) => {
      body.on('error', () => {});
      writeEntry(header, body as unknown as Readable).then(() => next(), fail);
    });
    parser.on('finish', () => {
      finished = true;
      resolve();
    });
    parser.on('error', (err: Error) => fail(new MalformedArchiveError(`not a valid tar archive: ${err.message}`, { cause: err })));
    parser.on('close', () => fail(failure ?? new MalformedArchiveError('the archive ended in the middle of an entry')));
  });
  entriesDone.catch(() => {});

  // Async iteration surfaces a source error even if it happened before we started reading.
  let first = true;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    if (first && chunk.length > 0) {
      first = false;
      if (looksCompressed(chunk)) {
        parser.destroy(undefined);
        throw new MalformedArchiveError('the archive is compressed; knit stores plain tar archives');
      }
    }
    if (failure) break;
    if (!parser.write(chunk)) await Promise.race([once(parser as unknown as EventEmitter, 'drain'), entriesDone]);
  }
  if (failure) throw failure;
  parser.end(undefined);
  await entriesDone;

  // Deepest first, so a read-only directory is locked only after its children are written.
  for (const d of dirs.sort((a, b) => b.path.length - a.path.length)) {
    await chmod(d.path, d.mode);
    if (d.mtime) await utimes(d.path, d.mtime, d.mtime);
  }
  return stats;
}
