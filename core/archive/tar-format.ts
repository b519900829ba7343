import { Header, Pax, type HeaderData } from 'tar';

/**
 * The tar format, as knit reads and writes it. Header blocks and pax extended headers are
 * encoded and decoded by node-tar (the tar library npm itself uses); knit adds the streaming
 * around it (see TarReader and writeArchive) and the determinism: the same entry always
 * encodes to the same bytes.
 */

export const BLOCK = 512;

export type TarType = 'file' | 'hardlink' | 'symlink' | 'char-device' | 'block-device' | 'directory' | 'fifo' | 'other';

export interface TarHeader {
  path: string;
  type: TarType;
  mode: number;
  size: number;
  mtime: Date;
  linkpath: string;
  /** node-tar's name for the entry type, for messages about unsupported entries. */
  flag: string;
}

const TYPE_OF_NAME: Record<string, TarType> = {
  File: 'file',
  OldFile: 'file',
  ContiguousFile: 'file',
  Link: 'hardlink',
  SymbolicLink: 'symlink',
  CharacterDevice: 'char-device',
  BlockDevice: 'block-device',
  Directory: 'directory',
  FIFO: 'fifo',
};

const NAME_OF_TYPE: Partial<Record<TarType, 'File' | 'Link' | 'SymbolicLink' | 'Directory'>> = {
  file: 'File',
  hardlink: 'Link',
  symlink: 'SymbolicLink',
  directory: 'Directory',
};

/** Metadata entries, which describe the next entry instead of being one. */
export const META_TYPES = new Set(['ExtendedHeader', 'GlobalExtendedHeader', 'NextFileHasLongPath', 'NextFileHasLongLinkpath']);

export class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarFormatError';
  }
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/**
 * The header bytes of one entry: a pax extended header first when the ustar fields cannot hold
 * it (long or non-ASCII names, huge files). No owner ids or names, whole-second mtimes.
 */
export function encodeHeader(h: { path: string; type: TarType; mode: number; size: number; mtime: Date; linkpath?: string }): Buffer {
  const type = NAME_OF_TYPE[h.type];
  if (!type) throw new TarFormatError(`cannot write entry type ${h.type}`);
  const data: HeaderData = {
    path: h.type === 'directory' && !h.path.endsWith('/') ? `${h.path}/` : h.path,
    type,
    mode: h.mode & 0o7777,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    size: h.type === 'file' ? h.size : 0,
    mtime: new Date(Math.floor(h.mtime.getTime() / 1000) * 1000),
    linkpath: h.linkpath ?? '',
  };
  const header = new Header(data);
  const block = Buffer.alloc(BLOCK);
  header.encode(block, 0);
  if (!header.needPax) return block;
  const pax = new Pax({ path: data.path!, linkpath: data.linkpath!, size: data.size!, mtime: data.mtime! }).encode();
  return Buffer.concat([pax, block]);
}

function isBlankField(f: Buffer): boolean {
  return f.every((c) => c === 0 || c === 0x20);
}

export function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/** Overrides for the next entry, from pax extended headers or GNU long-name entries. */
export interface Overrides {
  path?: string;
  linkpath?: string;
  size?: number;
  mtime?: Date;
}

/**
 * Decodes one header block. Overrides from extended headers are applied by the reader: node-tar's
 * Header can take them, but it re-reads linkpath and the ustar prefix after applying them.
 */
export function decodeHeader(b: Buffer): TarHeader {
  let h: Header;
  try {
    h = new Header(b, 0);
  } catch (err) {
    // node-tar throws plain Errors for numeric fields it cannot read (a bad base-256 number,
    // one past 2^53): a malformed archive, not a failure of ours.
    throw new TarFormatError(`a tar header has an unreadable numeric field (${(err as Error).message})`);
  }
  if (!h.cksumValid) throw new TarFormatError('a tar header has a bad checksum: the archive is corrupt, compressed, or not a tar');
  if (b.toString('ascii', 257, 262) !== 'ustar') throw new TarFormatError('a tar header lacks the ustar magic: only POSIX (ustar/pax) and GNU archives are accepted');
  const name = h.type;
  // node-tar reads a negative or non-octal size as "no size"; taking that for 0 would read the
  // entry's content as the next header. Only a blank field means 0.
  if (h.size === undefined && !isBlankField(b.subarray(124, 136))) throw new TarFormatError('a tar header has an invalid size (negative or not a number)');
  if (h.mtime !== undefined && Number.isNaN(h.mtime.getTime())) throw new TarFormatError('a tar header has an invalid modification time');
  return {
    path: h.path ?? '',
    type: TYPE_OF_NAME[name] ?? 'other',
    flag: name,
    mode: h.mode ?? 0,
    size: h.size ?? 0,
    mtime: h.mtime ?? new Date(0),
    linkpath: h.linkpath ?? '',
  };
}

/**
 * Parses pax records (`<len> <key>=<value>\n`) by their length prefix, so values may hold any
 * byte, newlines included (node-tar's own parser splits on newlines).
 */
export function parsePax(buf: Buffer, into: Overrides): void {
  let i = 0;
  while (i < buf.length) {
    const space = buf.indexOf(0x20, i);
    if (space < 0) break;
    const len = Number(buf.toString('ascii', i, space));
    if (!Number.isInteger(len) || len <= 0 || i + len > buf.length) throw new TarFormatError('a pax extended header is malformed');
    const record = buf.toString('utf8', space + 1, i + len - 1);
    const eq = record.indexOf('=');
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key === 'path') into.path = value;
    else if (key === 'linkpath') into.linkpath = value;
    else if (key === 'size') {
      const size = Number(value);
      if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError('a pax size record is not a valid size');
      into.size = size;
    } else if (key === 'mtime') {
      const t = Number(value);
      if (Number.isFinite(t)) into.mtime = new Date(Math.floor(t * 1000));
    }
    i += len;
  }
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const BZIP2_MAGIC = [0x42, 0x5a, 0x68];
const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a];

/** True when the first bytes of a stream are those of a compressed file rather than a tar. */
export function looksCompressed(first: Buffer): boolean {
  const starts = (magic: number[]) => magic.every((b, i) => first[i] === b);
  return starts(GZIP_MAGIC) || starts(ZSTD_MAGIC) || starts(BZIP2_MAGIC) || starts(XZ_MAGIC);
}
