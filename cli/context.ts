import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { KnitClient } from '../client/knit-client.js';
import { KnitError } from '../core/errors/knit-error.js';
import { connectionOf, localProfileName, readStore, storePath } from './profile-store.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:7420';

const Profile = z.object({ server: z.string().url().optional(), token: z.string().optional() });
const ProfileFile = z.object({
  current: z.string().optional(),
  profiles: z.record(z.string(), Profile).default({}),
});

export interface GlobalArgs {
  server?: string | undefined;
  token?: string | undefined;
  profile?: string | undefined;
  profileStore?: string | undefined;
}

export function knitHome(env: NodeJS.ProcessEnv = process.env): string {
  return env['KNIT_HOME'] ?? join(homedir(), '.knit');
}

export function profilePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(knitHome(env), 'profile.json');
}

type ProfileInUse = z.infer<typeof Profile> & { name?: string | undefined; ca?: string | undefined };

function readProfile(name: string | undefined, env: NodeJS.ProcessEnv): ProfileInUse {
  const path = profilePath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    if (name) throw new KnitError('bad_request', `--profile ${name}: there is no profile file at ${path}`, { field: 'profile' });
    return {};
  }
  let parsed;
  try {
    parsed = ProfileFile.parse(JSON.parse(text));
  } catch (err) {
    throw new KnitError('bad_request', `${path} is not a valid knit profile file: ${(err as Error).message.slice(0, 200)}`, { field: 'profile' });
  }
  const chosen = name ?? parsed.current;
  if (chosen === undefined) return {};
  const p = parsed.profiles[chosen];
  if (!p) throw new KnitError('bad_request', `--profile ${chosen}: no such profile in ${path}; it has ${Object.keys(parsed.profiles).join(', ') || 'none'}`, { field: 'profile' });
  return { ...p, name: chosen };
}

/**
 * The profile in use and what it says. Its name: --profile, else KNIT_PROFILE, else this folder's
 * (.knitprofile) when the profile store has it, else profile.json's current one.
 */
function resolveProfile(args: GlobalArgs, env: NodeJS.ProcessEnv): ProfileInUse {
  const named = args.profile ?? env['KNIT_PROFILE'];
  // A profile in the Knitfab-style store (knit init) first, by name or by this folder's .knitprofile.
  const name = named ?? localProfileName();
  const fromStore = readStore(storePath(knitHome(env), args, env))[name];
  return fromStore ? { ...connectionOf(fromStore), name } : readProfile(named, env);
}

/** Flags win over the environment, which wins over the profile, which wins over the default; `profile` names the one in use. */
export function resolveConnection(args: GlobalArgs, env: NodeJS.ProcessEnv = process.env): { server: string; token: string | undefined; profile: string | undefined; ca?: string } {
  const profile = resolveProfile(args, env);
  const [server, from] =
    args.server !== undefined ? [args.server, '--server'] : env['KNIT_SERVER'] !== undefined ? [env['KNIT_SERVER'], 'KNIT_SERVER'] : profile.server !== undefined ? [profile.server, 'the profile'] : [DEFAULT_SERVER, 'the default'];
  checkServerUrl(server, from);
  const token = args.token ?? env['KNIT_TOKEN'] ?? profile.token;
  // The profile's CA is for the profile's server only.
  const ca = server === profile.server ? profile.ca : undefined;
  return { server, token, profile: profile.name, ...(ca !== undefined ? { ca } : {}) };
}

/** A server that is not an http(s) URL is named with where it came from, and how to write it. */
function checkServerUrl(server: string, from: string): void {
  let url: URL | undefined;
  try {
    url = new URL(server);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    const hint = /^[\w.-]+:\d+/.test(server) ? `; write it as http://${server}` : '; it must be an http(s) URL such as http://127.0.0.1:7420';
    throw new KnitError('bad_request', `${from}: ${JSON.stringify(server)} is not a server URL${hint}`, { field: from });
  }
}

export function clientFor(args: GlobalArgs): KnitClient {
  const { server, token, ca } = resolveConnection(args);
  return new KnitClient({ server, token, ca });
}
