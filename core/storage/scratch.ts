import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';

export const SCRATCH_PREFIX = 'scratch-';

/** A scratch folder for one activity's own use, removed when `use` ends. */
export async function withScratch<T>(workdir: string, use: (dir: string) => Promise<T>): Promise<T> {
  await mkdir(workdir, { recursive: true });
  const dir = await mkdtemp(join(workdir, SCRATCH_PREFIX));
  try {
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
