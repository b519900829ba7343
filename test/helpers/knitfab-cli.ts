import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, type CliResult } from './cli.js';

/**
 * Knitfab v1.6.1's own `knit` CLI, unmodified (docs/knitfab-compat.md): KNITFAB_CLI, which
 * .ci/run sets, else the copy beside the project (../shared/tools/knitfab-cli/knit).
 */
export function knitfabCli(): string {
  const candidates = [process.env['KNITFAB_CLI'], join(repoRoot, '..', 'shared', 'tools', 'knitfab-cli', 'knit'), '/work/shared/tools/knitfab-cli/knit'].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`Knitfab's CLI is not at ${candidates.join(' nor ')}: set KNITFAB_CLI to its binary`);
  return found;
}

/** Runs Knitfab's CLI in `cwd` (also its HOME, so nothing of the machine's own profile leaks in). */
export function runKnitfabCli(args: string[], opts: { cwd: string; input?: string | Buffer }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(knitfabCli(), args, { cwd: opts.cwd, env: { PATH: process.env['PATH'], HOME: opts.cwd }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // A command that exits without reading its input closes the pipe first: that EPIPE is no
    // failure of the test (its exit code and output say what happened), and unhandled it crashes the file.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export interface KnitfabProject {
  /** The project folder, where `knit init` ran: the CLI's cwd. */
  readonly dir: string;
  run(args: string[], opts?: { input?: string | Buffer }): Promise<CliResult>;
  close(): Promise<void>;
}

/**
 * A Knitfab project pointed at knitd's Knitfab API: `knit init` of a profile whose apiRoot
 * carries the token as the password (how Knitfab's CLI sends one), in a profile store of its own.
 */
export async function knitfabProject(apiUrl: string, token: string | undefined): Promise<KnitfabProject> {
  const dir = await mkdtemp(join(tmpdir(), 'knitfab-project-'));
  const store = join(dir, '.profile-store.yaml');
  const url = new URL('/knitfab/api', apiUrl);
  if (token !== undefined) {
    url.username = 'kf';
    url.password = token;
  }
  await writeFile(join(dir, 'profile.yaml'), `apiRoot: ${url.toString()}\n`);
  const run = (args: string[], opts: { input?: string | Buffer } = {}) => runKnitfabCli(['--profile-store', store, ...args], { cwd: dir, ...opts });
  const init = await run(['init', 'profile.yaml']);
  if (init.code !== 0) throw new Error(`knit init failed (exit ${init.code}): ${init.stderr}`);
  return { dir, run, close: () => rm(dir, { recursive: true, force: true }) };
}
