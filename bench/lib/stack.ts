import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { findTemporalCli, startDevServer, type DevServer } from '../../cli/up/temporal.js';
import { databaseAt } from '../../core/db/embedded.js';
import { migrate } from '../../core/db/migrate.js';
import { openPool, type Pool } from '../../core/db/pool.js';
import { matcherWorkflowId } from '../../workflows/definitions.js';
import type { BenchDatabase } from './database.js';
import type { roundTrips } from '../../core/metrics/round-trips.js';

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
  /** The first worker's round trips so far to the database and the Docker engine (core/metrics/round-trips.ts). */
  workerRoundTrips(): Promise<RoundTrips>;
  /** Starts one more worker with the stack's environment and `extra`; the caller stops it. */
  startWorker(extra?: Record<string, string>): Promise<ChildProcess>;
  stop(): Promise<void>;
}

export type RoundTrips = ReturnType<typeof roundTrips>;

function child(bin: string, env: NodeJS.ProcessEnv, ready: RegExp): Promise<{ proc: ChildProcess; line: string }> {
  const proc = spawn(process.execPath, [join(root, 'bin', bin)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (ready.test(l)) resolve({ proc, line: l });
    });
    proc.once('exit', (c) => reject(new Error(`${bin} exited (${c})`)));
  });
}

/** How long a process may take to stop on SIGTERM: a worker waits for its activities in flight, which a stuck run never ends. */
const STOP_GRACE_MS = 30_000;

async function stopProcess(p: ChildProcess, name: string): Promise<void> {
  // A bench may have stopped it itself.
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  if ((await Promise.race([gone.then(() => true), sleep(STOP_GRACE_MS).then(() => false)])) === false) {
    process.stderr.write(`${name} did not stop within ${STOP_GRACE_MS / 1000} s of SIGTERM; killing it\n`);
    p.kill('SIGKILL');
    await gone;
  }
}

/**
 * Ends what the instance left running on a shared Temporal server: its matcher always, and the
 * workflows of runs that a failed bench left behind. Best effort, bounded: it never hides the result.
 */
export async function endWorkflows(address: string, instance: string): Promise<void> {
  let connection: Connection | undefined;
  const work = (async () => {
    connection = await Connection.connect({ address });
    const client = new Client({ connection });
    const ids = new Set([matcherWorkflowId(instance)]);
    for await (const w of client.workflow.list({ query: `TaskQueue = '${instance}' AND ExecutionStatus = 'Running'` })) ids.add(w.workflowId);
    for (const id of ids) await client.workflow.getHandle(id).terminate('bench over').catch(() => {});
  })();
  await Promise.race([work, sleep(15_000).then(() => Promise.reject(new Error('no answer in 15 s')))]).catch((err: unknown) =>
    process.stderr.write(`could not end instance ${instance}'s workflows on Temporal ${address}: ${(err as Error).message}\n`),
  );
  await connection?.close().catch(() => {});
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
  // The worker's health server also answers its round trips so far (GET /metrics).
  const worker = await child('knit-worker.js', { ...env, KNIT_HEALTH_LISTEN: '127.0.0.1:0' }, /knit-worker ready/);
  const workerHealth = /\(health (\S+)\)/.exec(worker.line)?.[1];
  return {
    api: apiUrl,
    token,
    temporalAddress,
    pool,
    knitd: api.proc,
    worker: worker.proc,
    databaseKind: database.embedded ? 'embedded PGlite' : 'PostgreSQL',
    async workerRoundTrips() {
      if (!workerHealth) throw new Error('the worker did not say where its health server listens');
      return ((await (await fetch(`${workerHealth}/metrics`)).json()) as { roundTrips: RoundTrips }).roundTrips;
    },
    async startWorker(extra = {}) {
      return (await child('knit-worker.js', { ...env, ...extra }, /knit-worker ready/)).proc;
    },
    async stop() {
      await stopProcess(worker.proc, 'knit-worker');
      await stopProcess(api.proc, 'knitd');
      await endWorkflows(temporalAddress!, env['KNIT_INSTANCE']!);
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
