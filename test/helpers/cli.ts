import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const knitBin = fileURLToPath(new URL('../../../bin/knit.js', import.meta.url));
export const knitdBin = fileURLToPath(new URL('../../../bin/knitd.js', import.meta.url));
export const knitWorkerBin = fileURLToPath(new URL('../../../bin/knit-worker.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `knit` executable, as a user would, with a clean environment plus `env`. */
export function runKnit(args: string[], opts: { env?: Record<string, string | undefined>; cwd?: string; input?: string } = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'], ...opts.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const child = spawn(process.execPath, [knitBin, ...args], { env, cwd: opts.cwd ?? repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(opts.input ?? '');
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * The CLI on a terminal (a pseudo-terminal from util-linux's `script`), as a person sees it:
 * stdout and stderr arrive mixed, in `output`.
 */
export function runKnitOnTerminal(args: string[], opts: { env?: Record<string, string | undefined>; cwd?: string } = {}): Promise<{ code: number; output: string }> {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'], TERM: 'dumb', ...opts.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const command = [process.execPath, knitBin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qefc', command, '/dev/null'], { env, cwd: opts.cwd ?? repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stdin.end();
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, output: output.replace(/\r\n/g, '\n') }));
  });
}

export function parseJson<T = unknown>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`knit printed no JSON (exit ${r.code}).\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}
