import { spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const PREFIX = 'knit-';
// knit's own executables, which sit on PATH beside the extensions and are not ones.
const OWN = new Set(['knit-worker', 'knit-agent']);

/**
 * Extensions, as Knitfab's CLI has them: every executable `knit-NAME` on PATH is `knit NAME`.
 * The first directory on PATH wins for a name; directories and non-executables are skipped.
 */
export function findExtensions(path: string | undefined = process.env['PATH']): Map<string, string> {
  const found = new Map<string, string>();
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const file of names.sort()) {
      if (!file.startsWith(PREFIX) || OWN.has(file)) continue;
      const name = file.slice(PREFIX.length);
      if (name === '' || found.has(name)) continue;
      const full = join(dir, file);
      try {
        if (statSync(full).isDirectory()) continue;
        accessSync(full, constants.X_OK);
      } catch {
        continue;
      }
      found.set(name, full);
    }
  }
  return found;
}

/**
 * Runs an extension with the same stdin, stdout and stderr, and the environment plus what tells
 * it where knit's settings are: KNIT_PROFILE, KNIT_PROFILE_STORE and KNIT_ENV as Knitfab's CLI
 * sets them, and (knit's addition) KNIT_SERVER and KNIT_TOKEN as this CLI resolved them, so an
 * extension can call the API without reading the profile itself. Resolves with its exit code.
 */
export function runExtension(program: string, args: string[], extra: Record<string, string | undefined>): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: 'inherit', env });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}
