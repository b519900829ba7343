import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/**
 * A PostgreSQL server of one test's own, for tests that stop, crash or restart the database
 * (the shared server must never be touched). initdb into a temporary folder, one free port on
 * 127.0.0.1, trust authentication, no fsync (safe: these tests crash the server, not the machine).
 * Commits stay synchronous: with synchronous_commit=off a crash loses commits the server already
 * acknowledged, and a run's status would go back in time. Run as the `postgres` user when the tests run as root,
 * because PostgreSQL refuses to run as root. Binaries: KNIT_PG_BIN, else the newest
 * /usr/lib/postgresql/<version>/bin (Debian's layout, what .ci/run installs).
 */
export class PrivatePostgres {
  private child: ChildProcess | undefined;
  private log = '';

  private constructor(
    private readonly bin: string,
    private readonly root: string,
    private readonly user: { uid: number; gid: number } | undefined,
    readonly port: number,
  ) {}

  /** A URL of the `postgres` database; pass another name for another database. */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** The server's own log so far (startup, shutdown, crash recovery). */
  serverLog(): string {
    return this.log;
  }

  static async create(): Promise<PrivatePostgres> {
    const bin = await postgresBinDir();
    const root = await mkdtemp(join(tmpdir(), 'knit-private-pg-'));
    const user = userInfo().uid === 0 ? await postgresUser() : undefined;
    if (user) await chown(root, user.uid, user.gid);
    const pgdata = join(root, 'data');
    await mkdir(pgdata);
    if (user) await chown(pgdata, user.uid, user.gid);
    await run(join(bin, 'initdb'), ['-D', pgdata, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], {
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
      env: { PATH: process.env['PATH'] },
    });
    const db = new PrivatePostgres(bin, root, user, await freePort());
    await db.start();
    return db;
  }

  /** Starts the server (again, on the same port and data) and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn(
      join(this.bin, 'postgres'),
      ['-D', join(this.root, 'data'), '-p', String(this.port), '-h', '127.0.0.1', '-k', this.root, '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200', '-c', 'shared_buffers=16MB'],
      { ...(this.user ? { uid: this.user.uid, gid: this.user.gid } : {}), stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env['PATH'] } },
    );
    child.stderr!.on('data', (c: Buffer) => (this.log = (this.log + c.toString()).slice(-20_000)));
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    await waitFor(
      'the private PostgreSQL to accept connections',
      async () => {
        if (!this.child) throw new Error(`it exited:\n${this.log}`);
        const c = new pg.Client({ connectionString: this.url() });
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
  }

  /**
   * Stops the server. `fast` (SIGINT) ends every session and shuts down cleanly; `immediate`
   * (SIGQUIT) is a crash: no checkpoint, recovery at the next start; `kill` is SIGKILL of the postmaster.
   */
  async stop(mode: 'fast' | 'immediate' | 'kill' = 'fast'): Promise<void> {
    const child = this.child;
    if (!child) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(mode === 'fast' ? 'SIGINT' : mode === 'immediate' ? 'SIGQUIT' : 'SIGKILL');
    await gone;
    this.child = undefined;
  }

  /** Stops the server and removes its data. */
  async destroy(): Promise<void> {
    await this.stop('immediate').catch(() => {});
    await rm(this.root, { recursive: true, force: true });
  }
}

async function postgresBinDir(): Promise<string> {
  const explicit = process.env['KNIT_PG_BIN'];
  if (explicit) return explicit;
  const base = '/usr/lib/postgresql';
  const versions = (await readdir(base).catch(() => [] as string[])).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error(`no PostgreSQL binaries under ${base}; install postgresql or set KNIT_PG_BIN`);
  return join(base, versions[0]!, 'bin');
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}
