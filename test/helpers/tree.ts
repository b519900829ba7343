import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readlink, symlink, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  size?: number;
  sha256?: string;
  target?: string;
}

/** Every path under `root` with type, permission bits, content hash and link target. */
export async function describeTree(root: string): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {};
  const walk = async (rel: string) => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const childRel = rel ? `${rel}/${name}` : name;
      const abs = join(root, childRel);
      const st = await lstat(abs);
      const mode = st.mode & 0o777;
      if (st.isSymbolicLink()) out[childRel] = { type: 'symlink', mode: 0, target: await readlink(abs) };
      else if (st.isDirectory()) {
        out[childRel] = { type: 'dir', mode };
        await walk(childRel);
      } else {
        const hash = createHash('sha256');
        for await (const c of createReadStream(abs)) hash.update(c as Buffer);
        out[childRel] = { type: 'file', mode, size: st.size, sha256: hash.digest('hex') };
      }
    }
  };
  await walk('');
  return out;
}

/** Writes `bytes` random bytes to `path` in 1 MiB pieces, without holding them in memory. */
export async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    for (let left = bytes; left > 0; left -= 1 << 20) await fh.write(randomBytes(Math.min(left, 1 << 20)));
  } finally {
    await fh.close();
  }
}

/**
 * The tree the round-trip test pushes: nested and empty folders, an internal symlink, an
 * executable, a zero-byte file, a name with spaces and non-ASCII, and a large file.
 */
export async function buildRoundTripTree(root: string, largeBytes: number): Promise<void> {
  await mkdir(join(root, 'nested/deeper/deepest'), { recursive: true });
  await mkdir(join(root, 'empty-dir'));
  await mkdir(join(root, 'nested/empty inside'));
  await writeFile(join(root, 'nested/deeper/deepest/leaf.txt'), 'leaf\n');
  await writeFile(join(root, 'README.md'), '# dataset\n');
  await writeFile(join(root, 'zero-bytes'), '');
  await writeFile(join(root, 'run.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(root, 'run.sh'), 0o755);
  await writeFile(join(root, 'read-only.txt'), 'do not touch\n');
  await chmod(join(root, 'read-only.txt'), 0o444);
  await writeFile(join(root, 'nested/spaced name ü日本.txt'), 'unicode ✓\n');
  await symlink('deeper/deepest/leaf.txt', join(root, 'nested/leaf-link'));
  await symlink('../README.md', join(root, 'nested/deeper/readme-link'));
  await writeRandomFile(join(root, 'large.bin'), largeBytes);
}

/** Every file below `dir`, as paths; none when it does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    let names;
    try {
      names = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of names) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.push(join(d, e.name));
    }
  };
  await walk(dir);
  return out;
}
