import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.js';
import { waitFor } from './wait.js';

/** The server binaries: KNIT_TEST_PG_BIN, else the newest Debian-packaged PostgreSQL (what .ci/run installs). */
function binDir(): string {
  const given = process.env['KNIT_TEST_PG_BIN'];
  if (given) return given;
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)) : [];
  const newest = versions.sort((a, b) => Number(a) - Number(b)).at(-1);
  if (!newest) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql: install the postgresql package, or set KNIT_TEST_PG_BIN');
  return join('/usr/lib/postgresql', newest, 'bin');
}

/**
 * A PostgreSQL server of a test's own, in a temporary folder on a free port, so that the test may
 * stop, crash and restart it without touching the shared server other tests use. It runs as the
 * `postgres` user (PostgreSQL refuses to run as root) with trust authentication on 127.0.0.1.
 */
export interface PrivatePostgres {
  /** A connection string for the `postgres` database; the server keeps its port across restarts. */
  readonly url: string;
  readonly port: number;
  /** The running postmaster's pid (it changes on restart). */
  pid(): number | undefined;
  /** Stops the server: 'fast' (SIGINT, a clean shutdown) or 'immediate' (SIGQUIT: a crash, with WAL recovery on the next start). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Stops the server and removes its folder. */
  destroy(): Promise<void>;
  log(): string;
}

function postgresUser(): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
  };
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const BIN = binDir();
  const dir = await mkdtemp(join(tmpdir(), 'knit-private-pg-'));
  const data = join(dir, 'data');
  const user = process.getuid?.() === 0 ? postgresUser() : undefined;
  if (user) await chown(dir, user.uid, user.gid);
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};
  execFileSync(join(BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'], {
    ...asUser,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let child: ChildProcess | undefined;
  let output = '';

  const ready = async () => {
    await waitFor(
      'the private PostgreSQL to accept connections',
      async () => {
        if (!child || child.exitCode !== null) throw new Error(`postgres exited:\n${output.slice(-2000)}`);
        const c = new pg.Client({ connectionString: url });
        c.on('error', () => {});
        try {
          await c.connect();
          await c.query('SELECT 1');
          return true;
        } finally {
          await c.end().catch(() => {});
        }
      },
      60_000,
      100,
    );
  };

  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    child = spawn(
      join(BIN, 'postgres'),
      ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=200'],
      { ...asUser, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (c: Buffer) => (output = (output + c.toString()).slice(-20_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    await ready();
  };

  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    await gone;
  };

  await start();
  return {
    url,
    port,
    pid: () => child?.pid,
    start,
    stop,
    async restart(mode = 'fast') {
      await stop(mode);
      await start();
    },
    async destroy() {
      await stop('immediate');
      await rm(dir, { recursive: true, force: true });
    },
    log: () => output,
  };
}
