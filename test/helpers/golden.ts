import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { repoRoot } from './cli.js';

export const goldenDir = join(repoRoot, 'test', 'fixtures', 'golden');

/**
 * Compares `actual` with the golden file `name` exactly. KNIT_UPDATE_GOLDEN=1 rewrites the file
 * instead (then review the diff before committing it).
 */
export async function assertGolden(t: ExecutionContext, name: string, actual: string): Promise<void> {
  const path = join(goldenDir, name);
  if (process.env['KNIT_UPDATE_GOLDEN'] === '1') {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, actual);
    t.log(`wrote ${path}`);
    t.pass('rewritten on request');
    return;
  }
  let expected: string;
  try {
    expected = await readFile(path, 'utf8');
  } catch {
    t.fail(`golden file ${path} is missing: run the test with KNIT_UPDATE_GOLDEN=1 to write it`);
    return;
  }
  t.is(actual, expected, `output differs from ${path}; if the change is meant, rerun with KNIT_UPDATE_GOLDEN=1 and review the diff`);
}
