import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevServer } from '../../cli/up/temporal.js';
import { freePort } from './free-port.js';

/**
 * A Temporal dev server of a test's own (never the shared one), started as `knit up` starts it and
 * persisted in a SQLite file, so a test can kill it and start it again on the same port with the
 * same history.
 */
export interface PrivateTemporal {
  readonly address: string;
  /** SIGKILLs the server, as a crash would. */
  kill(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startPrivateTemporal(): Promise<PrivateTemporal> {
  const dir = await mkdtemp(join(tmpdir(), 'knit-private-temporal-'));
  const dbFile = join(dir, 'temporal.db');
  const port = await freePort();
  const cli = process.env['TEMPORAL_CLI_PATH'] ?? 'temporal';
  let child: ChildProcess | undefined;
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  const start = async () => {
    if (alive()) return;
    child = (await startDevServer({ cli, dbFile, port, uiPort: undefined })).process;
  };

  const kill = async () => {
    const c = child;
    if (!c || !alive()) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  };

  await start();
  return {
    address: `127.0.0.1:${port}`,
    kill,
    start,
    async destroy() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
