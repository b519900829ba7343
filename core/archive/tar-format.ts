/**
 * The tar format, as knit reads and writes it: POSIX ustar headers, with pax extended headers
 * for long or non-ASCII names and very large files. GNU long-name entries are read too, so
 * archives made by GNU tar extract. Encoding is deterministic: the same entry, the same bytes.
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
  /** The raw type flag, for messages about unsupported entries. */
  flag: string;
}

const TYPE_OF_FLAG: Record<string, TarType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
};

const FLAG_OF_TYPE: Partial<Record<TarType, string>> = { file: '0', hardlink: '1', symlink: '2', directory: '5' };

const MAX_OCTAL_11 = 0o77777777777;

export class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarFormatError';
  }
}

// ---------- writing ----------

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, length, 'utf8');
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  // length-1 digits, then NUL, as GNU tar and POSIX expect.
  buf.write(value.toString(8).padStart(length - 1, '0'), offset, length - 1, 'ascii');
  buf[offset + length - 1] = 0;
}

function checksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  return sum;
}

function rawHeader(name: string, flag: string, mode: number, size: number, mtime: number, linkname: string): Buffer {
  const b = Buffer.alloc(BLOCK);
  writeString(b, 0, 100, name);
  writeOctal(b, 100, 8, mode & 0o7777);
  writeOctal(b, 108, 8, 0);
  writeOctal(b, 116, 8, 0);
  writeOctal(b, 124, 12, size);
  writeOctal(b, 136, 12, mtime);
  b.write(flag, 156, 1, 'ascii');
  writeString(b, 157, 100, linkname);
  b.write('ustar\0', 257, 6, 'ascii');
  b.write('00', 263, 2, 'ascii');
  b.write(checksum(b).toString(8).padStart(6, '0'), 148, 6, 'ascii');
  b[154] = 0;
  b[155] = 32;
  return b;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

const fitsUstar = (s: string) => /^[\x20-\x7e]*$/.test(s) && s.length <= 100;

/** The header bytes of one entry: a pax header first when the plain ustar fields cannot hold it. */
export function encodeHeader(h: { path: string; type: TarType; mode: number; size: number; mtime: Date; linkpath?: string }): Buffer {
  const flag = FLAG_OF_TYPE[h.type];
  if (!flag) throw new TarFormatError(`cannot write entry type ${h.type}`);
  const path = h.type === 'directory' && !h.path.endsWith('/') ? `${h.path}/` : h.path;
  const linkpath = h.linkpath ?? '';
  const size = h.type === 'file' ? h.size : 0;
  const mtime = Math.max(0, Math.floor(h.mtime.getTime() / 1000));
  const records: string[] = [];
  if (!fitsUstar(path)) records.push(paxRecord('path', path));
  if (!fitsUstar(linkpath)) records.push(paxRecord('linkpath', linkpath));
  if (size > MAX_OCTAL_11) records.push(paxRecord('size', String(size)));
  const main = rawHeader(fitsUstar(path) ? path : 'knit-long-name', flag, h.mode, size > MAX_OCTAL_11 ? 0 : size, mtime, fitsUstar(linkpath) ? linkpath : '');
  if (records.length === 0) return main;
  const pax = Buffer.from(records.join(''), 'utf8');
  return Buffer.concat([rawHeader('PaxHeader', 'x', 0o644, pax.length, mtime, ''), pax, Buffer.alloc(padding(pax.length)), main]);
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

// ---------- reading ----------

function readString(b: Buffer, offset: number, length: number): string {
  const end = b.indexOf(0, offset);
  return b.toString('utf8', offset, end < 0 || end > offset + length ? offset + length : end);
}

function readNumber(b: Buffer, offset: number, length: number, field: string): number {
  if (b[offset]! & 0x80) {
    // GNU base-256 for values too large for octal.
    let v = b[offset]! & 0x7f;
    for (let i = 1; i < length; i++) v = v * 256 + b[offset + i]!;
    return v;
  }
  const text = b.toString('ascii', offset, offset + length).replace(/[\0 ]+$/, '').replace(/^[\0 ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`bad ${field} field ${JSON.stringify(text)} in a tar header`);
  return parseInt(text, 8);
}

export function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/** Decodes one header block (not pax or GNU long-name handling: see TarReader). */
export function decodeHeader(b: Buffer): TarHeader {
  const stored = readNumber(b, 148, 8, 'checksum');
  const unsigned = checksum(b);
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) signed += i >= 148 && i < 156 ? 32 : (b[i]! << 24) >> 24;
  if (stored !== unsigned && stored !== signed) throw new TarFormatError('a tar header has a bad checksum: the archive is corrupt, compressed, or not a tar');
  if (b.toString('ascii', 257, 262) !== 'ustar') throw new TarFormatError('a tar header lacks the ustar magic: only POSIX (ustar/pax) and GNU archives are accepted');
  const flag = String.fromCharCode(b[156]!);
  let path = readString(b, 0, 100);
  const prefix = b[263] === 0x30 ? readString(b, 345, 155) : ''; // POSIX ustar "00" has a prefix field
  if (prefix) path = `${prefix}/${path}`;
  let type: TarType = TYPE_OF_FLAG[flag] ?? 'other';
  if (type === 'file' && flag !== '7' && path.endsWith('/')) type = 'directory';
  return {
    path,
    type,
    flag,
    mode: readNumber(b, 100, 8, 'mode'),
    size: readNumber(b, 124, 12, 'size'),
    mtime: new Date(readNumber(b, 136, 12, 'mtime') * 1000),
    linkpath: readString(b, 157, 100),
  };
}

/** Parses pax records into key/value pairs. */
export function parsePax(buf: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < buf.length) {
    const space = buf.indexOf(0x20, i);
    if (space < 0) break;
    const len = Number(buf.toString('ascii', i, space));
    if (!Number.isInteger(len) || len <= 0 || i + len > buf.length) throw new TarFormatError('a pax extended header is malformed');
    const record = buf.toString('utf8', space + 1, i + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    i += len;
  }
  return out;
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
