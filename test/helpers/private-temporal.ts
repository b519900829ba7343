import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions.js';
import { freePort } from './free-port.js';
import { waitFor } from './wait.js';

/**
 * A Temporal dev server of a test's own (never the shared one), persisted in a SQLite file, so a
 * test can kill it and start it again on the same port with the same history.
 */
export interface PrivateTemporal {
  readonly address: string;
  readonly port: number;
  readonly dbFile: string;
  pid(): number | undefined;
  /** SIGKILLs the server, as a crash would. */
  kill(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
  log(): string;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startPrivateTemporal(): Promise<PrivateTemporal> {
  const dir = await mkdtemp(join(tmpdir(), 'knit-private-temporal-'));
  const dbFile = join(dir, 'temporal.db');
  const port = await freePort();
  const cli = process.env['TEMPORAL_CLI_PATH'] ?? 'temporal';
  let child: ChildProcess | undefined;
  let output = '';
  let announced = false;

  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    announced = false;
    const args = ['server', 'start-dev', '--headless', '--db-filename', dbFile, '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn'];
    for (const key of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${key.name}=Keyword`);
    const c = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout!.on('data', (b: Buffer) => {
      output = (output + b.toString()).slice(-20_000);
      if (/Temporal Server:/.test(b.toString())) announced = true;
    });
    c.stderr!.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-20_000)));
    await waitFor(
      'the private Temporal dev server to listen',
      async () => {
        if (c.exitCode !== null) throw new Error(`temporal exited (${c.exitCode}):\n${output.slice(-2000)}`);
        return announced && (await portOpen(port));
      },
      90_000,
      100,
    );
  };

  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  };

  await start();
  return {
    address: `127.0.0.1:${port}`,
    port,
    dbFile,
    pid: () => child?.pid,
    kill,
    start,
    async destroy() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
    log: () => output,
  };
}
