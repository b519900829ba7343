import { constants } from 'node:fs';
import { access, lstat, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * The folder of one of the engine's volumes, when this process may fill it as the engine itself
 * would; undefined otherwise. Filling it directly spares the staging container and the engine's
 * archive call (about 70 ms before each run's start, and a copy of every input byte through
 * dockerd: executor/DESIGN.md). Each check keeps a case where that would be wrong on the
 * staging container:
 * - The local driver keeps a volume in `…/volumes/<name>/_data`. A folder of that name existing
 *   here right after the engine made the uniquely named volume is the engine's own: a remote
 *   engine's folder does not exist on this machine, and another driver's is named otherwise.
 * - A real folder (not a symlink) owned by this process's user. An engine that remaps users
 *   (userns-remap) owns its volumes as another uid, and files written here would belong to
 *   nobody inside the container. A rootless engine's volumes are its user's, who is then root
 *   in the container, as the staging container's files would be.
 * - Writable by this process.
 */
export async function localVolumeFolder(volume: string, mountpoint: string): Promise<string | undefined> {
  if (!mountpoint || basename(mountpoint) !== '_data' || basename(dirname(mountpoint)) !== volume) return undefined;
  try {
    const st = await lstat(mountpoint);
    if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid())) return undefined;
    await access(mountpoint, constants.W_OK | constants.X_OK);
    return mountpoint;
  } catch {
    return undefined;
  }
}

/** Removes everything in `dir` (what a crashed try left half-written), keeping `dir` itself; symlinks are removed, never followed. */
export async function emptyFolder(dir: string): Promise<void> {
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
}
