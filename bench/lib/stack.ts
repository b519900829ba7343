import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { findTemporalCli, startDevServer, type DevServer } from '../../cli/up/temporal.js';
import { databaseAt } from '../../core/db/embedded.js';
import { migrate } from '../../core/db/migrate.js';
import { openPool, type Pool } from '../../core/db/pool.js';
import type { BenchDatabase } from './database.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

export interface BenchStackOptions {
  /** A database of the bench's own (freshDatabase) instead of DATABASE_URL or an embedded one; dropped by stop(). */
  database?: BenchDatabase;
  /**
   * Runs as Pods on this cluster and namespace instead of Docker containers. knitd then listens on
   * the Pods' gateway (where the agent in each Pod reaches it), so it needs a token: see `token`.
   */
  kubernetes?: { kubeconfig: string; namespace: string; gateway: string };
}

export interface BenchStack {
  api: string;
  /** The API's bearer token, when it has one (on Kubernetes it listens beyond loopback). */
  token: string | undefined;
  temporalAddress: string;
  pool: Pool;
  knitd: ChildProcess;
  worker: ChildProcess;
  databaseKind: string;
  /** Starts one more worker with the stack's environment and `extra`; the caller stops it. */
  startWorker(extra?: Record<string, string>): Promise<ChildProcess>;
  stop(): Promise<void>;
}

function child(bin: string, env: NodeJS.ProcessEnv, ready: RegExp): Promise<{ proc: ChildProcess; line: string }> {
  const proc = spawn(process.execPath, [join(root, 'bin', bin)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (ready.test(l)) resolve({ proc, line: l });
    });
    proc.once('exit', (c) => reject(new Error(`${bin} exited (${c})`)));
  });
}

/** The whole stack for a benchmark, as `knit up` runs it: separate processes for API and worker. */
export async function startBenchStack(work: string, extraEnv: Record<string, string> = {}, opts: BenchStackOptions = {}): Promise<BenchStack> {
  mkdirSync(work, { recursive: true });
  const own = opts.database;
  const database = own
    ? { url: own.url, embedded: own.kind === 'embedded PGlite', stop: () => own.drop() }
    : await databaseAt(process.env['DATABASE_URL'] || undefined, join(work, 'pgdata'));
  const databaseUrl = database.url;
  const pool = own ? own.pool : openPool(databaseUrl, { max: 4 });
  if (!own) await migrate(pool);
  let temporal: DevServer | undefined;
  let temporalAddress = process.env['TEMPORAL_ADDRESS'];
  if (!temporalAddress) {
    const port = 17_000 + Math.floor(Math.random() * 2000);
    temporal = await startDevServer({ cli: await findTemporalCli(work, () => {}), dbFile: join(work, 'temporal.db'), port, uiPort: undefined });
    temporalAddress = temporal.address;
  }
  const k8s = opts.kubernetes;
  const token = k8s ? randomBytes(24).toString('hex') : undefined;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    KNIT_HOME: work,
    KNIT_INSTANCE: `bench${process.pid}`,
    KNIT_LISTEN: '127.0.0.1:0',
    KNIT_LOG_LEVEL: 'warn',
    KNIT_MAX_RUNS_PER_APPLY: '1000000',
    ...(k8s
      ? {
          KNIT_LISTEN: `${k8s.gateway}:0`,
          KNIT_TOKEN: token,
          KNIT_AGENT_SECRET: randomBytes(32).toString('hex'),
          KNIT_EXECUTOR: 'kubernetes',
          KNIT_K8S_KUBECONFIG: k8s.kubeconfig,
          KNIT_K8S_NAMESPACE: k8s.namespace,
        }
      : {}),
    ...extraEnv,
  };
  const api = await child('knitd.js', env, /^knitd listening on (\S+)/);
  const apiUrl = /^knitd listening on (\S+)/.exec(api.line)![1]!;
  // The agent in each Pod reaches knitd at its own address, known only once knitd listens.
  if (k8s) env['KNIT_AGENT_URL'] = apiUrl;
  const worker = await child('knit-worker.js', env, /knit-worker ready/);
  return {
    api: apiUrl,
    token,
    temporalAddress,
    pool,
    knitd: api.proc,
    worker: worker.proc,
    databaseKind: database.embedded ? 'embedded PGlite' : 'PostgreSQL',
    async startWorker(extra = {}) {
      return (await child('knit-worker.js', { ...env, ...extra }, /knit-worker ready/)).proc;
    },
    async stop() {
      for (const p of [worker.proc, api.proc]) {
        // A bench may have stopped the first worker itself.
        if (p.exitCode !== null || p.signalCode !== null) continue;
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await gone;
      }
      if (!own) await pool.end();
      if (temporal) {
        const gone = new Promise((r) => temporal!.process.once('exit', r));
        temporal.process.kill('SIGTERM');
        await gone;
      }
      await database.stop();
    },
  };
}
