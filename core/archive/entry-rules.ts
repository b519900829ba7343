import type { TarType } from './tar-format.js';

/**
 * The rules every entry of a Data archive obeys, checked when a client packs a directory, when
 * the API receives an upload, and when a client extracts one. A Data archive is a plain
 * directory tree: files, directories, symlinks that stay inside the tree and hard links to
 * earlier files. Anything that could reach outside the extraction root is refused, not
 * silently rewritten.
 */
export type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink';

export interface EntryHeader {
  readonly path: string;
  readonly type: TarType;
  readonly linkpath?: string | undefined;
}

export interface CheckedEntry {
  /** Normalized path relative to the root, '' for the root directory itself. */
  readonly path: string;
  readonly kind: EntryKind;
  /** For symlinks, the target as written; for hard links, the normalized target path. */
  readonly linkTarget?: string;
}

export class UnsafeEntryError extends Error {
  constructor(
    readonly entryPath: string,
    readonly reason: string,
    /** A symlink refused for where it points: packing with dereference would store its target instead. */
    readonly symlinkTarget?: string,
  ) {
    super(`archive entry ${JSON.stringify(entryPath)}: ${reason}`);
    this.name = 'UnsafeEntryError';
  }
}

const KIND_OF: Partial<Record<TarType, EntryKind>> = {
  file: 'file',
  directory: 'directory',
  symlink: 'symlink',
  hardlink: 'hardlink',
};

/**
 * Linux's NAME_MAX and PATH_MAX, in bytes of UTF-8: a longer name is accepted by tar but can never
 * be written to disk, so Data holding one could be stored and never pulled or staged.
 */
export const NAME_MAX_BYTES = 255;
export const PATH_MAX_BYTES = 4096;

function checkLengths(segs: readonly string[], entryPath: string, what: string): void {
  for (const seg of segs) {
    const bytes = Buffer.byteLength(seg, 'utf8');
    if (bytes > NAME_MAX_BYTES) {
      throw new UnsafeEntryError(shorten(entryPath), `${what} has a component of ${bytes} bytes (${JSON.stringify(shorten(seg))}); a file or directory name may have at most ${NAME_MAX_BYTES} bytes`);
    }
  }
  const total = Buffer.byteLength(segs.join('/'), 'utf8');
  if (total > PATH_MAX_BYTES) throw new UnsafeEntryError(shorten(entryPath), `${what} is ${total} bytes long; a path may have at most ${PATH_MAX_BYTES} bytes`);
}

/** Long names in messages: enough to recognise the entry, not kilobytes of it. */
function shorten(s: string): string {
  const chars = [...s];
  return chars.length <= 80 ? s : `${chars.slice(0, 60).join('')}…${chars.slice(-15).join('')}`;
}

/** Splits a tar path into clean segments, refusing absolute paths and `..`. */
function segmentsOf(raw: string, entryPath: string, what: string): string[] {
  if (raw.includes('\0')) throw new UnsafeEntryError(entryPath, `${what} contains a NUL byte`);
  if (raw.startsWith('/')) throw new UnsafeEntryError(entryPath, `${what} is absolute; entries must be relative to the data root`);
  const segs = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.includes('..')) throw new UnsafeEntryError(entryPath, `${what} contains '..' and would escape the data root`);
  return segs;
}

/** Tracks what an archive has declared so far, to check each entry against the earlier ones. */
export class ArchiveChecker {
  private readonly seen = new Map<string, EntryKind>();
  private readonly symlinks = new Set<string>();

  check(h: EntryHeader): CheckedEntry {
    const kind = KIND_OF[h.type];
    if (!kind) {
      throw new UnsafeEntryError(h.path, `entry type ${h.type} is not allowed; Data holds only files, directories, symlinks and hard links`);
    }
    const segs = segmentsOf(h.path, h.path, 'path');
    checkLengths(segs, h.path, 'path');
    const path = segs.join('/');
    if (path === '') {
      if (kind !== 'directory') throw new UnsafeEntryError(h.path, 'only a directory may stand for the data root');
      return { path, kind };
    }

    // Nothing is ever written through a symlink, even one that points inside: the extractor
    // would otherwise have to trust a link it created from the same untrusted archive.
    for (let i = 1; i < segs.length; i++) {
      const prefix = segs.slice(0, i).join('/');
      if (this.symlinks.has(prefix)) throw new UnsafeEntryError(h.path, `would be written through the symlink ${JSON.stringify(prefix)}`);
      const before = this.seen.get(prefix);
      if (before !== undefined && before !== 'directory') throw new UnsafeEntryError(h.path, `its parent ${JSON.stringify(prefix)} is not a directory`);
    }
    const before = this.seen.get(path);
    if (before !== undefined && !(before === 'directory' && kind === 'directory')) {
      throw new UnsafeEntryError(h.path, 'appears twice in the archive');
    }

    let linkTarget: string | undefined;
    if (kind === 'symlink') linkTarget = this.checkSymlink(h, segs);
    if (kind === 'hardlink') linkTarget = this.checkHardlink(h);

    this.seen.set(path, kind);
    if (kind === 'symlink') this.symlinks.add(path);
    return linkTarget === undefined ? { path, kind } : { path, kind, linkTarget };
  }

  private checkSymlink(h: EntryHeader, segs: string[]): string {
    const target = h.linkpath ?? '';
    if (target === '') throw new UnsafeEntryError(h.path, 'symlink has an empty target');
    if (target.includes('\0')) throw new UnsafeEntryError(h.path, 'symlink target contains a NUL byte');
    if (Buffer.byteLength(target, 'utf8') > PATH_MAX_BYTES) throw new UnsafeEntryError(shorten(h.path), `symlink target is longer than ${PATH_MAX_BYTES} bytes`);
    if (target.startsWith('/')) throw new UnsafeEntryError(h.path, `symlink target ${JSON.stringify(target)} is absolute; it must point inside the data`, target);
    // Leading '..' only climbs real directories (entries are never written through symlinks),
    // so it can be counted exactly. A '..' after a name could climb out of a symlinked
    // directory, which a lexical check cannot see; such targets are refused.
    const parts = target.split('/').filter((s) => s !== '' && s !== '.');
    let ups = 0;
    while (parts[ups] === '..') ups++;
    if (parts.slice(ups).includes('..')) {
      throw new UnsafeEntryError(h.path, `symlink target ${JSON.stringify(target)} uses '..' after a path component; write it as a direct relative path`, target);
    }
    const depth = segs.length - 1;
    if (ups > depth) throw new UnsafeEntryError(h.path, `symlink target ${JSON.stringify(target)} points outside the data root`, target);
    return target;
  }

  private checkHardlink(h: EntryHeader): string {
    const target = segmentsOf(h.linkpath ?? '', h.path, 'hard link target').join('/');
    if (this.seen.get(target) !== 'file') {
      throw new UnsafeEntryError(h.path, `hard link target ${JSON.stringify(h.linkpath ?? '')} is not a file earlier in the archive`);
    }
    return target;
  }
}
