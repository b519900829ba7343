import { lstat, open, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { ArchiveChecker, UnsafeEntryError } from './entry-rules.js';
import { encodeHeader, END_OF_ARCHIVE, padding, type TarType } from './tar-format.js';

export interface PackEntry {
  /** Path relative to the root, '/'-separated. */
  readonly path: string;
  readonly type: TarType;
  readonly mode: number;
  readonly size: number;
  readonly mtime: Date;
  readonly linkpath?: string;
  /** dev:ino of a file with more than one link, to store later links as hard links. */
  readonly inode?: string;
}

export interface PackPlan {
  /** Entries in archive order: parents before children, names sorted. */
  readonly entries: readonly PackEntry[];
  /** Total bytes of regular file content; what a progress bar counts against. */
  readonly contentBytes: number;
}

function typeOf(st: Awaited<ReturnType<typeof lstat>>): TarType {
  if (st.isDirectory()) return 'directory';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'char-device';
  if (st.isBlockDevice()) return 'block-device';
  return 'other';
}

export interface PlanPackOptions {
  /**
   * Follow symlinks (`data push -L`): store what each link points to, files and directories, in
   * its place. A link that points nowhere, or a directory that contains itself through links,
   * is refused, naming it.
   */
  dereference?: boolean;
}

/**
 * Walks `root` and returns what will be archived; without `dereference` symlinks are kept as
 * links (and the archive rules refuse one pointing out of `root`). Doing this first lets the CLI
 * refuse an unsafe tree (a symlink pointing out, a device file) before sending a byte, and gives
 * the progress bar its total. writeArchive reads files by path, so a dereferenced file is read
 * through its link.
 */
export async function planPack(root: string, opts: PlanPackOptions = {}): Promise<PackPlan> {
  const entries: PackEntry[] = [];
  let contentBytes = 0;
  const checker = new ArchiveChecker();
  // dev:ino of the directories being walked, to catch a link back to one of them.
  const walking = new Set<string>();
  const statOf = async (abs: string, path: string) => {
    if (!opts.dereference) return lstat(abs);
    try {
      return await stat(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP') throw new UnsafeEntryError(path, `is a symlink to ${JSON.stringify(await readlink(abs).catch(() => '?'))}, which ${code === 'ELOOP' ? 'loops' : 'does not exist'}; nothing to store in its place`);
      throw err;
    }
  };
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const abs = join(root, path);
      const st = await statOf(abs, path);
      const type = typeOf(st);
      const linkpath = type === 'symlink' ? await readlink(abs) : undefined;
      checker.check({ path, type, linkpath });
      const entry: PackEntry = {
        path,
        type,
        mode: st.mode & 0o7777,
        size: type === 'file' ? st.size : 0,
        mtime: st.mtime,
        ...(linkpath !== undefined ? { linkpath } : {}),
        ...(type === 'file' && st.nlink > 1 ? { inode: `${st.dev}:${st.ino}` } : {}),
      };
      entries.push(entry);
      if (type === 'file') contentBytes += st.size;
      if (type === 'directory') {
        const id = `${st.dev}:${st.ino}`;
        if (walking.has(id)) throw new UnsafeEntryError(path, 'is a symlink to a directory that contains it; following it would never end');
        walking.add(id);
        await walk(path);
        walking.delete(id);
      }
    }
  };
  const top = await stat(root);
  walking.add(`${top.dev}:${top.ino}`);
  await walk('');
  return { entries, contentBytes };
}

const READ_SIZE = 1 << 20;
const POOL_SIZE = 4;

/** A few read buffers, each reused once the sink has flushed what was written from it. */
class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: Array<(b: Buffer) => void> = [];
  constructor(count: number, size: number) {
    for (let i = 0; i < count; i++) this.free.push(Buffer.allocUnsafe(size));
  }
  take(): Promise<Buffer> {
    const b = this.free.pop();
    return b ? Promise.resolve(b) : new Promise((resolve) => this.waiting.push(resolve));
  }
  give(b: Buffer): void {
    const w = this.waiting.shift();
    if (w) w(b);
    else this.free.push(b);
  }
}

export interface WriteArchiveOptions {
  onProgress?: (bytes: number) => void;
  /**
   * Reuse read buffers once `sink` calls back for a write. Only safe when the callback means the
   * sink is done with the bytes, as for sockets, HTTP requests and files; a Transform calls back
   * while the chunk still waits in its buffer. Saves allocating (and collecting) the whole
   * archive's worth of buffers.
   */
  reuseBuffers?: boolean;
}

/**
 * Writes `root` to `sink` as a deterministic tar: sorted entries, no owner names or ids, modes
 * and mtimes kept, symlinks stored as links, hard links stored once. The same tree always yields
 * the same bytes, hence the same digest.
 */
export async function writeArchive(root: string, plan: PackPlan, sink: Writable, opts: WriteArchiveOptions = {}): Promise<void> {
  const pool = opts.reuseBuffers ? new BufferPool(POOL_SIZE, READ_SIZE) : undefined;
  const take = (want: number) => pool?.take() ?? Promise.resolve(Buffer.allocUnsafe(Math.min(READ_SIZE, want)));
  const give = (b: Buffer) => pool?.give(b);
  const items = archiveItems(plan.entries);
  const ahead = new ReadAhead(root, items);
  let done = 0;
  let sinkError: Error | undefined;
  const onError = (err: Error) => (sinkError ??= err);
  sink.on('error', onError);

  const write = async (data: Buffer, release?: () => void): Promise<void> => {
    if (sinkError) throw sinkError;
    if (sink.destroyed || sink.writableEnded) throw new Error('the archive destination closed early');
    const ok = sink.write(data, (err) => {
      if (err) onError(err);
      release?.();
    });
    if (!ok) await new Promise<void>((resolve) => {
      const go = () => {
        sink.off('drain', go);
        sink.off('close', go);
        resolve();
      };
      sink.on('drain', go);
      sink.on('close', go);
    });
  };

  try {
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (item.kind === 'header') {
        await write(encodeHeader(item.entry));
        continue;
      }
      if (item.kind === 'small') {
        // Header, content and padding in the one buffer the file was read into: one write.
        const record = await ahead.take(i);
        done += item.entry.size;
        await write(record);
        opts.onProgress?.(done);
        continue;
      }
      const e = item.entry;
      await write(encodeHeader(e));
      const fh = await open(join(root, e.path), 'r');
      try {
        let left = e.size;
        while (left > 0) {
          const buf = await take(left);
          const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, left), null);
          if (bytesRead === 0) {
            give(buf);
            throw shrank(e.path);
          }
          left -= bytesRead;
          done += bytesRead;
          await write(buf.subarray(0, bytesRead), () => give(buf));
          opts.onProgress?.(done);
        }
        if ((await fh.stat()).size !== e.size) throw changedSize(e.path);
      } finally {
        await fh.close();
      }
      const pad = padding(e.size);
      if (pad > 0) await write(Buffer.alloc(pad));
    }
    await write(END_OF_ARCHIVE);
  } finally {
    ahead.abandon();
    sink.off('error', onError);
  }
}

const shrank = (path: string) => new Error(`${path} shrank while it was being pushed; push it again once nothing writes to it`);
const changedSize = (path: string) => new Error(`${path} changed size while it was being pushed; push it again once nothing writes to it`);

/**
 * Files up to this size are read whole, a few ahead of the one being written: a tree of many
 * small files is bound by each file's open, read, stat and close, one thread-pool round trip
 * each, and reading several at once keeps the pool's threads and the disk busy meanwhile.
 */
const SMALL_FILE = 1024 * 1024;
/** Small files read ahead at most: with SMALL_FILE, at most 16 MiB held. */
const READ_AHEAD = 16;

/** What the archive holds, in order: a bare header (directories, links, hard links), a small file, or a large one. */
type ArchiveItem = { kind: 'header' | 'small' | 'large'; entry: PackEntry };

function archiveItems(entries: readonly PackEntry[]): ArchiveItem[] {
  const firstPath = new Map<string, string>();
  return entries.map((e): ArchiveItem => {
    if (e.type === 'file' && e.inode !== undefined) {
      const first = firstPath.get(e.inode);
      if (first !== undefined) return { kind: 'header', entry: { ...e, type: 'hardlink', size: 0, linkpath: first } };
      firstPath.set(e.inode, e.path);
    }
    if (e.type !== 'file') return { kind: 'header', entry: e };
    return { kind: e.size <= SMALL_FILE ? 'small' : 'large', entry: e };
  });
}

/** Reads the small files of `items` ahead of the writer, at most READ_AHEAD at once, handing them out in order. */
class ReadAhead {
  private readonly reads = new Map<number, Promise<Buffer>>();
  private next = 0;

  constructor(
    private readonly root: string,
    private readonly items: readonly ArchiveItem[],
  ) {}

  /** The record (header, content, padding) of the small file at `index`. */
  take(index: number): Promise<Buffer> {
    this.fill(index);
    const read = this.reads.get(index)!;
    this.reads.delete(index);
    this.fill(index + 1);
    return read;
  }

  /** Nothing more is taken: reads still going may fail unheard. */
  abandon(): void {
    for (const read of this.reads.values()) read.catch(() => {});
    this.reads.clear();
    this.next = this.items.length;
  }

  private fill(from: number): void {
    this.next = Math.max(this.next, from);
    while (this.reads.size < READ_AHEAD && this.next < this.items.length) {
      const i = this.next++;
      const item = this.items[i]!;
      if (item.kind !== 'small') continue;
      const read = readRecord(join(this.root, item.entry.path), item.entry);
      // Awaited in order by take(); until then, a failure must not count as unhandled.
      read.catch(() => {});
      this.reads.set(i, read);
    }
  }
}

async function readRecord(path: string, e: PackEntry): Promise<Buffer> {
  // The header may be more than one block (a pax header before it, for a long name).
  const header = encodeHeader(e);
  const start = header.length;
  const record = Buffer.allocUnsafe(start + e.size + padding(e.size));
  header.copy(record, 0);
  record.fill(0, start + e.size);
  const fh = await open(path, 'r');
  try {
    let at = 0;
    while (at < e.size) {
      const { bytesRead } = await fh.read(record, start + at, e.size - at, at);
      if (bytesRead === 0) throw shrank(e.path);
      at += bytesRead;
    }
    if ((await fh.stat()).size !== e.size) throw changedSize(e.path);
  } finally {
    await fh.close();
  }
  return record;
}

/** The archive of `root` as a readable stream (for callers that want a stream, not a sink). */
export function packDirectory(root: string, plan: PackPlan, onProgress?: (bytes: number) => void): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  writeArchive(root, plan, out, onProgress ? { onProgress } : {}).then(
    () => out.end(),
    (err: Error) => out.destroy(err),
  );
  return out;
}
