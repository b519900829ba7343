import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from '../../core/db/migrate.js';
import { databaseAt } from '../../core/db/embedded.js';
import { openPool } from '../../core/db/pool.js';
import { DockerEngine } from '../../executor/docker/engine.js';
import { TemporalEnv } from '../../core/config/temporal.js';
import { acquireStackLock } from './lock.js';
import { restartRunContainers, stopRunContainers } from './run-containers.js';
import { keepAlive, type KeptChild } from './keep-alive.js';
import { findTemporalCli, startDevServer } from './temporal.js';

export interface LocalStackOptions {
  home: string;
  listen: string;
  databaseUrl: string | undefined;
  /** A running Temporal server to use instead of starting the dev server. */
  temporalAddress: string | undefined;
  temporalPort: number;
  /** Web UI port, or undefined for none. */
  uiPort: number | undefined;
  token: string | undefined;
  log: (line: string) => void;
}

export interface LocalStack {
  readonly apiUrl: string;
  readonly databaseUrl: string;
  readonly temporalAddress: string;
  readonly uiUrl: string | undefined;
  /**
   * Resolves when a component is lost for good: the Temporal dev server, the API or the worker
   * keeps crashing (one crash only restarts it). The stack should then be stopped.
   */
  readonly exited: Promise<string>;
  stop(): Promise<void>;
}

const binDir = fileURLToPath(new URL('../../../bin/', import.meta.url));

/**
 * Everything knit needs, on this machine: PostgreSQL (DATABASE_URL, else embedded PGlite under
 * KNIT_HOME), the Temporal dev server (persisted under KNIT_HOME), and the API server and the
 * worker as child processes: the same binaries a cluster runs.
 */
export async function startLocalStack(opts: LocalStackOptions): Promise<LocalStack> {
  const release = acquireStackLock(opts.home);
  const children: KeptChild[] = [];
  let database: Awaited<ReturnType<typeof databaseAt>> | undefined;
  const docker = new DockerEngine(process.env['DOCKER_SOCKET'] || undefined);
  const instance = TemporalEnv.shape.KNIT_INSTANCE.parse(process.env['KNIT_INSTANCE'] || undefined);
  let workerStarted = false;
  const cleanup = async () => {
    for (const c of [...children].reverse()) await c.stop();
    if (workerStarted && database) {
      const pool = openPool(database.url, { max: 1 });
      const grace = Number(process.env['KNIT_STOP_GRACE_SECONDS'] || 10);
      const stopped = await stopRunContainers(opts.home, pool, docker, instance, grace)
        .catch((err: Error) => {
          opts.log(`could not stop the run containers of knit instance ${instance}: ${err.message}`);
          return 0;
        })
        .finally(() => pool.end());
      if (stopped > 0) opts.log(`stopped ${stopped} run container(s); the next knit up starts them again and their runs carry on`);
    }
    await database?.stop().catch(() => {});
    rmSync(join(opts.home, 'up.json'), { force: true });
    release();
  };
  try {
    const cli = opts.temporalAddress === undefined ? await findTemporalCli(opts.home, opts.log) : undefined;
    if (opts.databaseUrl === undefined) opts.log(`starting embedded PostgreSQL (PGlite) in ${join(opts.home, 'pgdata')}`);
    database = await databaseAt(opts.databaseUrl, join(opts.home, 'pgdata'));
    const databaseUrl = database.url;
    const pool = openPool(databaseUrl, { max: 1 });
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }

    let temporalAddress = opts.temporalAddress;
    let uiUrl: string | undefined;
    if (temporalAddress === undefined && cli !== undefined) {
      opts.log(`starting the Temporal dev server (${cli}) on 127.0.0.1:${opts.temporalPort}`);
      // Restarted like the other children: it keeps its state in its SQLite file, so workflows
      // carry on where they were, and the API and the worker reconnect to the same address.
      const devServer = { cli, dbFile: join(opts.home, 'temporal.db'), port: opts.temporalPort, uiPort: opts.uiPort };
      const name = 'the Temporal dev server';
      const temporal = await keepAlive(
        {
          name,
          start: async () => {
            const server = await startDevServer(devServer);
            uiUrl = server.uiUrl;
            return { name, process: server.process, readyValue: server.address };
          },
        },
        opts.log,
      );
      children.push(temporal);
      temporalAddress = temporal.readyValue;
    }
    if (temporalAddress === undefined) throw new Error('no Temporal server');

    const env: NodeJS.ProcessEnv = { ...process.env, KNIT_HOME: opts.home, DATABASE_URL: databaseUrl, KNIT_LISTEN: opts.listen, TEMPORAL_ADDRESS: temporalAddress };
    if (opts.token !== undefined) env['KNIT_TOKEN'] = opts.token;
    const apiSpec = { name: 'knitd', command: process.execPath, args: [join(binDir, 'knitd.js')], env: { ...env }, ready: /^knitd listening on (\S+)/ };
    const api = await keepAlive(apiSpec, opts.log);
    children.push(api);
    // A restarted API must come back where clients already point, also when it was given port 0.
    apiSpec.env['KNIT_LISTEN'] = new URL(api.readyValue).host;
    const restarted = await restartRunContainers(opts.home, docker).catch((err: Error) => {
      opts.log(`could not start again the run containers the last knit up stopped: ${err.message}`);
      return 0;
    });
    if (restarted > 0) opts.log(`started again ${restarted} run container(s) the last knit up stopped`);
    workerStarted = true;
    const worker = await keepAlive({ name: 'knit-worker', command: process.execPath, args: [join(binDir, 'knit-worker.js')], env, ready: /^(knit-worker ready)/ }, opts.log);
    children.push(worker);

    writeFileSync(
      join(opts.home, 'up.json'),
      JSON.stringify({ pid: process.pid, api: api.readyValue, temporal: temporalAddress, ui: uiUrl ?? null, database: database.embedded ? 'embedded' : 'external' }, null, 2),
    );
    const exited = Promise.race(children.map((c) => c.gaveUp));
    return { apiUrl: api.readyValue, databaseUrl, temporalAddress, uiUrl, exited, stop: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
