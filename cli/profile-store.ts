import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { KnitError } from '../core/errors/knit-error.js';
import { parseOrThrow } from '../core/validation/parse.js';

/**
 * Profiles as Knitfab's CLI keeps them (docs/knitfab-compat.md 6.1): a YAML store, by default
 * `~/.knit/profile`, mapping a profile name to `{apiRoot, cert: {ca?}}`; `knit init FILE` adds
 * one and names it in `./.knitprofile`. knit reads the same store, so one profile serves both
 * CLIs: the server is apiRoot without its Knitfab API path, the token its password.
 */
export const KnitfabProfile = z
  .object({
    apiRoot: z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL, such as http://kf:TOKEN@knit.example:7420/knitfab/api' }),
    cert: z
      .object({ ca: z.string().regex(/^[A-Za-z0-9+/=\s]+$/, 'must be a base64-encoded PEM certificate').optional() })
      .strict()
      .nullish(),
  })
  .strict();
export type KnitfabProfile = z.output<typeof KnitfabProfile>;
const Store = z.record(z.string(), KnitfabProfile);

const KNITFAB_API_PATH = /\/knitfab\/api\/?$/;

export function storePath(knitHome: string, args: { profileStore?: string | undefined }, env: NodeJS.ProcessEnv): string {
  return args.profileStore ?? env['KNIT_PROFILE_STORE'] ?? join(knitHome, 'profile');
}

export function readStore(path: string): Record<string, KnitfabProfile> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  try {
    return parseOrThrow(Store, parseYaml(text) ?? {}, 'profile store');
  } catch (err) {
    throw new KnitError('bad_request', `${path} is not a valid profile store: ${(err as Error).message}`, { field: 'profile-store' });
  }
}

/** Writes the store as Knitfab's CLI does: 0600 in a 0700 folder, the previous content kept as `.backup`. */
export function writeStore(path: string, store: Record<string, KnitfabProfile>): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (existsSync(path)) copyFileSync(path, `${path}.backup`);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, stringifyYaml(store), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** The profile name Knitfab's CLI would use here: the first line of the nearest `.knitprofile`, else this folder's path. */
export function localProfileName(cwd: string = process.cwd()): string {
  for (let dir = cwd; ; dir = dirname(dir)) {
    try {
      const first = readFileSync(join(dir, '.knitprofile'), 'utf8').split('\n')[0]!.trim();
      if (first !== '') return first;
    } catch {
      // none here; look further up
    }
    if (dirname(dir) === dir) return cwd;
  }
}

/** knit's server, token and trusted CA (the PEM that cert.ca holds in base64) from a Knitfab profile. */
export function connectionOf(p: KnitfabProfile): { server: string; token: string | undefined; ca?: string } {
  const url = new URL(p.apiRoot);
  const token = url.password ? decodeURIComponent(url.password) : undefined;
  url.username = '';
  url.password = '';
  url.pathname = url.pathname.replace(KNITFAB_API_PATH, '') || '/';
  const ca = p.cert?.ca === undefined ? undefined : Buffer.from(p.cert.ca.replace(/\s+/g, ''), 'base64').toString('utf8');
  return { server: url.toString().replace(/\/$/, ''), token, ...(ca !== undefined ? { ca } : {}) };
}
