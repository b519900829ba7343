import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Where the knitenv file is, as Knitfab's CLI finds it: KNIT_ENV when set, else `knitenv` in the
 * current folder or the nearest parent that has one, else `knitenv` in the current folder (a
 * missing file is no error).
 */
export function knitenvPath(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): string {
  if (env['KNIT_ENV']) return env['KNIT_ENV'];
  for (let dir = cwd; ; dir = dirname(dir)) {
    const candidate = join(dir, 'knitenv');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return join(cwd, 'knitenv');
  }
}
