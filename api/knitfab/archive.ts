import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { encodeHeader, END_OF_ARCHIVE, padding, type TarHeader } from '../../core/archive/tar-format.js';
import { TarReader } from '../../core/archive/tar-reader.js';
import { DigestCheck } from '../../core/storage/digest.js';

const stripDot = (p: string) => p.replace(/^(\.\/)+/, '');

/** A hard link still to be written as a copy of its target, with its own name, mode and time. */
interface PendingLink {
  path: string;
  target: string;
  mode: number;
  mtime: Date;
}

/**
 * Knit's stored archive re-written the way Knitfab's CLI can extract it: regular files and
 * symlinks only. Directory entries are left out (its extractor would make a *file* of each), and
 * each hard link becomes a regular file with its target's content (it would extract an empty
 * one): a further pass over the stored archive per link to the same target, since content is
 * streamed, never held. Every pass checks the stored bytes against the Data's digest and size and
 * fails (so the client's download breaks) on a mismatch.
 */
export async function writeKnitfabTar(open: () => Promise<Readable>, expected: { digest: string; size: number }, out: Writable): Promise<void> {
  const write = async (b: Buffer) => {
    if (!out.write(b)) await once(out, 'drain');
  };
  let pending: PendingLink[] = [];
  await pass(open, expected, {
    entry: async (h: TarHeader) => {
      if (h.type === 'file' || h.type === 'symlink') await write(encodeHeader({ path: stripDot(h.path), type: h.type, mode: h.mode, size: h.size, mtime: h.mtime, linkpath: h.linkpath }));
      else if (h.type === 'hardlink') pending.push({ path: stripDot(h.path), target: stripDot(h.linkpath), mode: h.mode, mtime: h.mtime });
    },
    data: async (chunk: Buffer, h: TarHeader) => {
      if (h.type === 'file') await write(chunk);
    },
    entryEnd: async (h: TarHeader) => {
      if (h.type === 'file') await write(Buffer.alloc(padding(h.size)));
    },
  });
  while (pending.length > 0) {
    // One link per target each pass: the target's content is streamed into one entry at a time.
    const now = new Map<string, PendingLink>();
    const later: PendingLink[] = [];
    for (const l of pending) {
      if (now.has(l.target)) later.push(l);
      else now.set(l.target, l);
    }
    let current: PendingLink | undefined;
    await pass(open, expected, {
      entry: async (h) => {
        current = h.type === 'file' ? now.get(stripDot(h.path)) : undefined;
        if (current) await write(encodeHeader({ path: current.path, type: 'file', mode: current.mode, size: h.size, mtime: current.mtime }));
      },
      data: async (chunk) => {
        if (current) await write(chunk);
      },
      entryEnd: async (h) => {
        if (current) await write(Buffer.alloc(padding(h.size)));
        current = undefined;
      },
    });
    pending = later;
  }
  await write(END_OF_ARCHIVE);
}

async function pass(
  open: () => Promise<Readable>,
  expected: { digest: string; size: number },
  visit: { entry(h: TarHeader): Promise<void>; data(chunk: Buffer, h: TarHeader): Promise<void>; entryEnd(h: TarHeader): Promise<void> },
): Promise<void> {
  let header: TarHeader | undefined;
  const reader = new TarReader({
    entry: async (h) => {
      header = h;
      await visit.entry(h);
    },
    data: (chunk) => visit.data(chunk, header!),
    entryEnd: (h) => visit.entryEnd(h),
  });
  const check = new DigestCheck(expected.digest, expected.size);
  for await (const chunk of await open()) {
    check.update(chunk as Buffer);
    await reader.write(chunk as Buffer);
  }
  check.finish();
  reader.end();
}
