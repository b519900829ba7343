import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { ArchiveChecker } from './entry-rules.js';

export interface PackPlan {
  /** Paths relative to the root, in archive order (parents before children, sorted). */
  readonly entries: readonly string[];
  /** Total bytes of regular file content; what a progress bar counts against. */
  readonly contentBytes: number;
}

/**
 * Walks `root` without following symlinks and returns what will be archived. Doing this first
 * lets the CLI refuse an unsafe tree (a symlink pointing out, a device file) before sending a
 * byte, and gives the progress bar its total.
 */
export async function planPack(root: string): Promise<PackPlan> {
  const entries: string[] = [];
  let contentBytes = 0;
  const checker = new ArchiveChecker();
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
      const child = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(root, child));
      const type = st.isDirectory() ? 'Directory' : st.isFile() ? 'File' : st.isSymbolicLink() ? 'SymbolicLink' : describe(st);
      const linkpath = st.isSymbolicLink() ? await readlink(join(root, child)) : undefined;
      checker.check({ path: child, type, linkpath });
      entries.push(child);
      if (st.isFile()) contentBytes += st.size;
      if (st.isDirectory()) await walk(child);
    }
  };
  await walk('');
  return { entries, contentBytes };
}

function describe(st: Awaited<ReturnType<typeof lstat>>): string {
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'Socket';
  if (st.isCharacterDevice()) return 'CharacterDevice';
  if (st.isBlockDevice()) return 'BlockDevice';
  return 'Unknown';
}

/**
 * Streams `root` as a deterministic tar: sorted entries, no owner names or ids, modes and
 * mtimes kept, symlinks stored as links, hard links stored once. The same tree always yields
 * the same bytes, so it has the same digest.
 * `onProgress` is called with the number of content bytes read so far.
 */
export function packDirectory(root: string, plan: PackPlan, onProgress?: (bytes: number) => void): Readable {
  const pack = tarStream.pack();
  const inodes = new Map<string, string>();
  let done = 0;
  const run = async () => {
    for (const rel of plan.entries) {
      const abs = join(root, rel);
      const st = await lstat(abs);
      const base = { name: rel, mode: st.mode & 0o7777, mtime: st.mtime, uid: 0, gid: 0, uname: '', gname: '' };
      if (st.isDirectory()) {
        await entry(pack, { ...base, type: 'directory' });
      } else if (st.isSymbolicLink()) {
        await entry(pack, { ...base, type: 'symlink', linkname: await readlink(abs) });
      } else if (st.isFile()) {
        const inode = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? inodes.get(inode) : undefined;
        if (first !== undefined) {
          await entry(pack, { ...base, type: 'link', linkname: first });
          continue;
        }
        if (st.nlink > 1) inodes.set(inode, rel);
        await new Promise<void>((resolve, reject) => {
          const sink = pack.entry({ ...base, type: 'file', size: st.size }, (err) => (err ? reject(err) : resolve()));
          const src = createReadStream(abs, { highWaterMark: 256 << 10 });
          if (onProgress) {
            src.on('data', (c: Buffer | string) => {
              done += c.length;
              onProgress(done);
            });
          }
          pipeline(src, sink).catch(reject);
        });
      }
    }
    pack.finalize();
  };
  run().catch((err: Error) => pack.destroy(err));
  // A Node stream for callers: tar-stream's own streams lack parts of the Node API (unpipe).
  return Readable.from(pack, { objectMode: false, highWaterMark: 1 << 20 });
}

function entry(pack: tarStream.Pack, header: Partial<tarStream.Header> & { name: string }): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
}
