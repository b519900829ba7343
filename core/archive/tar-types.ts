import type { Header } from 'tar-stream';
import type { EntryHeader } from './entry-rules.js';

const TYPE_NAME: Record<string, string> = {
  file: 'File',
  'contiguous-file': 'ContiguousFile',
  directory: 'Directory',
  symlink: 'SymbolicLink',
  link: 'Link',
  'character-device': 'CharacterDevice',
  'block-device': 'BlockDevice',
  fifo: 'FIFO',
};

/** Maps a tar-stream header to the library-neutral shape the entry rules check. */
export function toEntryHeader(h: Header): EntryHeader {
  return { path: h.name, type: TYPE_NAME[h.type ?? 'file'] ?? String(h.type), linkpath: h.linkname ?? undefined };
}

export const GZIP_MAGIC = [0x1f, 0x8b];
export const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

export function looksCompressed(first: Buffer): boolean {
  const starts = (magic: number[]) => magic.every((b, i) => first[i] === b);
  return starts(GZIP_MAGIC) || starts(ZSTD_MAGIC);
}
