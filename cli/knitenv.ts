import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { KnitError } from '../core/errors/knit-error.js';
import { UserTag } from '../core/tags/tag.js';
import { parseOrThrow } from '../core/validation/parse.js';

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

const KnitenvTag = z.union([z.string(), z.object({ key: z.string(), value: z.string() }).transform((t) => `${t.key}:${t.value}`)]).pipe(UserTag.transform((t) => `${t.key}:${t.value}`));
const KnitenvFile = z
  .object({
    tag: z.array(KnitenvTag).nullish(),
    resource: z.record(z.string(), z.union([z.string(), z.number()]).transform(String)).nullish(),
  })
  .strict()
  .nullable();

export interface Knitenv {
  /** Tags added to every `data push` and the default tags of `plan template`. */
  tags: string[];
  /** The `resources` of `plan template`. */
  resources: Record<string, string>;
}

/** The knitenv file at `path` (knitenvPath()); none there is an empty one, a broken one an error naming it. */
export function readKnitenv(path: string = knitenvPath()): Knitenv {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { tags: [], resources: {} };
  }
  let parsed: z.output<typeof KnitenvFile>;
  try {
    parsed = parseOrThrow(KnitenvFile, parseYaml(text), 'knitenv');
  } catch (err) {
    throw new KnitError('bad_request', `knitenv ${path}: ${(err as Error).message}`, { field: 'knitenv' });
  }
  return { tags: parsed?.tag ?? [], resources: parsed?.resource ?? {} };
}
