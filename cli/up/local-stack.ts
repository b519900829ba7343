import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from '../../core/db/migrate.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../core/db/embedded.js';
import { openPool } from '../../core/db/pool.js';
import { acquireStackLock } from './lock.js';
import { startChild, stopChild, type ManagedChild } from './supervisor.js';

export interface LocalStackOptions {
  home: string;
  listen: string;
  databaseUrl: string | undefined;
  token: string | undefined;
  log: (line: string) => void;
}

export interface LocalStack {
  readonly apiUrl: string;
  readonly databaseUrl: string;
  /** Resolves when any component stops on its own; the stack is then shutting down. */
  readonly exited: Promise<string>;
  stop(): Promise<void>;
}

const binDir = fileURLToPath(new URL('../../../bin/', import.meta.url));

/**
 * Everything knit needs, on this machine: PostgreSQL (DATABASE_URL, else embedded PGlite under
 * KNIT_HOME) and the API server as a child process, the same binary a cluster runs.
 */
export async function startLocalStack(opts: LocalStackOptions): Promise<LocalStack> {
  const release = acquireStackLock(opts.home);
  const children: ManagedChild[] = [];
  let embedded: EmbeddedPostgres | undefined;
  const cleanup = async () => {
    for (const c of children.reverse()) await stopChild(c.process);
    await embedded?.stop().catch(() => {});
    rmSync(join(opts.home, 'up.json'), { force: true });
    release();
  };
  try {
    let databaseUrl = opts.databaseUrl;
    if (databaseUrl === undefined) {
      opts.log(`starting embedded PostgreSQL (PGlite) in ${join(opts.home, 'pgdata')}`);
      embedded = await startEmbeddedPostgres({ dataDir: join(opts.home, 'pgdata') });
      databaseUrl = embedded.url;
    }
    const pool = openPool(databaseUrl, { max: 1 });
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }

    const env: NodeJS.ProcessEnv = { ...process.env, KNIT_HOME: opts.home, DATABASE_URL: databaseUrl, KNIT_LISTEN: opts.listen };
    if (opts.token !== undefined) env['KNIT_TOKEN'] = opts.token;
    const api = await startChild({
      name: 'knitd',
      command: process.execPath,
      args: [join(binDir, 'knitd.js')],
      env,
      ready: /^knitd listening on (\S+)/,
    });
    children.push(api);

    writeFileSync(join(opts.home, 'up.json'), JSON.stringify({ pid: process.pid, api: api.readyValue, database: embedded ? 'embedded' : 'external' }, null, 2));
    const exited = new Promise<string>((resolve) => {
      for (const c of children) c.process.once('exit', (code, sig) => resolve(`${c.name} exited (${sig ?? `code ${code}`})`));
    });
    return { apiUrl: api.readyValue, databaseUrl, exited, stop: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
