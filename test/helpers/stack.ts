import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import { temporalOrchestrator } from '../../api/orchestrator.js';
import { buildApi } from '../../api/server.js';
import { KnitClient } from '../../client/knit-client.js';
import type { DataDetail } from '../../core/data/model.js';
import { createLogger } from '../../core/log/logger.js';
import { hostResourceBounds, type ResourceBounds } from '../../core/plan/resource-bounds.js';
import type { RunDetail } from '../../core/run/model.js';
import { openBlobStore } from '../../core/storage/factory.js';
import { LocalBlobStore } from '../../core/storage/local-store.js';
import { matcherWorkflowId } from '../../workflows/definitions.js';
import { knitWorkerBin } from './cli.js';
import { clusterKubeconfig } from './cluster.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { spawnKnitd, type KnitdProcess } from './knitd.js';
import { tempDir } from './tmp.js';
import { waitFor } from './wait.js';
import { POD_GATEWAY } from './cluster.js';

export const TEST_IMAGE = 'knit-test/busybox:1';

export function temporalAddress(): string {
  const address = process.env['TEMPORAL_ADDRESS'];
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: run the tests with `npm test`, which starts a Temporal dev server');
  return address;
}

export interface StackOptions {
  /** Extra environment for the worker (fault injection, concurrency). */
  workerEnv?: Record<string, string>;
  maxRunsPerApply?: number;
  /** Where the API (only) looks for Temporal, e.g. a closed port for an API cut off from it. */
  apiTemporalAddress?: string;
  /** What the API lets a plan ask for; this host's cores and memory unless given. */
  resourceBounds?: ResourceBounds;
  /** The database to use instead of a fresh one on the shared server (e.g. on a private PostgreSQL). */
  database?: () => Promise<TestDatabase>;
  /** A Temporal server of the test's own (default: TEMPORAL_ADDRESS, the shared dev server). */
  temporalAddress?: string;
  /** A PostgreSQL server of the test's own to create the test database on (default: DATABASE_URL). */
  databaseServerUrl?: string;
  /** Run the API as a real knitd child process (that a test can watch or kill) instead of in this process. */
  apiProcess?: boolean;
  /**
   * Runs as Pods on the dev cluster, in this namespace, instead of Docker containers. The API
   * listens on the Pods' gateway address, where the agent in each Pod reaches it.
   */
  kubernetes?: { namespace: string };
  /** Keep Data in this GCS bucket (on fake-gcs-server at `endpoint`) instead of the local folder. */
  gcs?: { endpoint: string; bucket: string; prefix: string };
  /** KNIT_TOKEN for the in-process API; the stack's client sends it. */
  token?: string;
}

export { POD_GATEWAY };

/**
 * A whole knit for one test: its own database, storage, Temporal task queues and matcher (a
 * fresh KNIT_INSTANCE on the shared dev server), the API in this process and the worker as a
 * real child process that a test can kill.
 */
export class TestStack {
  readonly instance = `t${randomBytes(5).toString('hex')}`;
  client!: KnitClient;
  temporal!: Client;
  db!: TestDatabase;
  home!: string;
  url!: string;
  worker: ChildProcess | undefined;
  workerLog = '';
  /** The knitd child, with `apiProcess`. */
  api: KnitdProcess | undefined;
  private closeApi: (() => Promise<void>) | undefined;
  private cleanupHome: (() => Promise<void>) | undefined;
  private connection: Connection | undefined;

  constructor(private readonly opts: StackOptions = {}) {}

  static async start(opts: StackOptions = {}): Promise<TestStack> {
    const s = new TestStack(opts);
    await s.init();
    return s;
  }

  private get temporalTarget(): string {
    return this.opts.temporalAddress ?? temporalAddress();
  }

  /** What the worker and knitd share to mint and check the agents' run-scoped tokens. */
  readonly agentSecret = randomBytes(32).toString('hex');

  private async init(): Promise<void> {
    this.db = this.opts.database
      ? await this.opts.database()
      : await createTestDatabase(this.opts.databaseServerUrl ? { serverUrl: this.opts.databaseServerUrl } : {});
    const home = await tempDir('knit-stack-');
    this.home = home.path;
    this.cleanupHome = home.cleanup;
    if (this.opts.apiProcess) {
      await this.startApiProcess();
    } else {
      const env = { TEMPORAL_ADDRESS: this.opts.apiTemporalAddress ?? this.temporalTarget, TEMPORAL_NAMESPACE: 'default', KNIT_INSTANCE: this.instance };
      const logger = createLogger('knitd-test', process.env['KNIT_TEST_LOG'] ?? 'silent');
      const orchestrator = temporalOrchestrator(env, logger);
      const app = await buildApi({
        pool: this.db.pool,
        store: this.opts.gcs ? openBlobStore({ ...this.storageEnv(), KNIT_HOME: this.home, KNIT_STORAGE_DIR: undefined }) : new LocalBlobStore(join(this.home, 'storage')),
        logger,
        config: {
          token: this.opts.token,
          maxDataBytes: 2 ** 40,
          maxRunsPerApply: this.opts.maxRunsPerApply ?? 1000,
          resourceBounds: this.opts.resourceBounds ?? hostResourceBounds(),
          allowNetwork: true,
          agentSecret: this.agentSecret,
        },
        orchestrator,
        onChange: () => orchestrator.wake(),
      });
      const host = this.opts.kubernetes ? POD_GATEWAY : '127.0.0.1';
      await app.listen({ host, port: 0 });
      const addr = app.server.address();
      this.url = `http://${host}:${typeof addr === 'object' && addr ? addr.port : 0}`;
      this.closeApi = async () => {
        await app.close();
        await orchestrator.close();
      };
      this.client = new KnitClient({ server: this.url, token: this.opts.token });
    }
    this.connection = await Connection.connect({ address: this.temporalTarget });
    this.temporal = new Client({ connection: this.connection });
    await this.startWorker();
  }

  /** Starts knitd as a child process on the stack's database, storage and instance (with `apiProcess`). */
  async startApiProcess(extra: Record<string, string> = {}): Promise<KnitdProcess> {
    const api = await spawnKnitd({
      DATABASE_URL: this.db.url,
      KNIT_HOME: this.home,
      KNIT_INSTANCE: this.instance,
      TEMPORAL_ADDRESS: this.temporalTarget,
      KNIT_MAX_RUNS_PER_APPLY: String(this.opts.maxRunsPerApply ?? 1000),
      ...extra,
    });
    this.api = api;
    this.url = api.url;
    this.client = new KnitClient({ server: this.url });
    this.closeApi = async () => {
      await this.api?.stop();
    };
    return api;
  }

  /** The storage settings of the stack's knitd and workers. */
  private storageEnv() {
    const g = this.opts.gcs;
    return g
      ? { KNIT_STORAGE: 'gcs' as const, KNIT_GCS_BUCKET: g.bucket, KNIT_GCS_PREFIX: g.prefix, KNIT_GCS_ENDPOINT: g.endpoint, KNIT_GCS_PROJECT: 'knit-test' }
      : { KNIT_STORAGE: 'local' as const, KNIT_GCS_BUCKET: undefined, KNIT_GCS_PREFIX: '', KNIT_GCS_ENDPOINT: undefined, KNIT_GCS_PROJECT: undefined };
  }

  workerEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const storage = Object.fromEntries(Object.entries(this.storageEnv()).filter(([, v]) => v !== undefined));
    return {
      PATH: process.env['PATH'],
      DATABASE_URL: this.db.url,
      KNIT_HOME: this.home,
      KNIT_INSTANCE: this.instance,
      TEMPORAL_ADDRESS: this.temporalTarget,
      // Short, so a killed worker is noticed quickly; not shorter, because the SDK sends heartbeats
      // at 80% of this and a loaded CI machine needs the other 20% to deliver them.
      KNIT_HEARTBEAT_TIMEOUT: '5s',
      KNIT_STEP_TIMEOUT: '20s',
      KNIT_MATCHER_BACKSTOP: '3s',
      KNIT_STOP_GRACE_SECONDS: '2',
      KNIT_PULL_TIMEOUT: '10s',
      KNIT_LOG_LEVEL: process.env['KNIT_TEST_LOG'] ?? 'warn',
      KNIT_AGENT_SECRET: this.agentSecret,
      ...storage,
      ...(this.opts.kubernetes
        ? {
            KNIT_EXECUTOR: 'kubernetes',
            KNIT_K8S_KUBECONFIG: clusterKubeconfig(),
            KNIT_K8S_NAMESPACE: this.opts.kubernetes.namespace,
            KNIT_AGENT_URL: this.url,
            KNIT_K8S_PENDING_TIMEOUT: '30s',
          }
        : {}),
      ...this.opts.workerEnv,
      ...extra,
    };
  }

  /** Starts the worker process and waits until it polls. */
  async startWorker(extra: Record<string, string> = {}): Promise<ChildProcess> {
    const child = spawn(process.execPath, [knitWorkerBin], { env: this.workerEnvironment(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr!.on('data', (c: Buffer) => (this.workerLog = (this.workerLog + c.toString()).slice(-20_000)));
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (l) => {
        if (l.includes('knit-worker ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the worker exited (${code}) before it was ready:\n${this.workerLog}`)));
    });
    this.worker = child;
    return child;
  }

  /** SIGKILLs the worker (as a crash would) and waits for it to be gone. */
  async killWorker(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (!w || w.exitCode !== null || w.signalCode !== null) return;
    const gone = new Promise((r) => w.once('exit', r));
    w.kill('SIGKILL');
    await gone;
  }

  async stopWorker(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (!w || w.exitCode !== null || w.signalCode !== null) return;
    const gone = new Promise((r) => w.once('exit', r));
    w.kill('SIGTERM');
    await gone;
  }

  /** Pushes a directory made of `files` (path to content) as Data with `tags`. */
  async push(files: Record<string, string>, tags: string[]): Promise<DataDetail> {
    const dir = await tempDir('knit-push-');
    try {
      for (const [name, content] of Object.entries(files)) {
        await mkdir(join(dir.path, name, '..'), { recursive: true });
        await writeFile(join(dir.path, name), content);
      }
      return await this.client.pushDirectory(dir.path, tags);
    } finally {
      await dir.cleanup();
    }
  }

  /** Applies a plan running `script` with `sh -c` in the test image. */
  async plan(spec: { script: string; inputs: Array<{ path: string; tags: string[] }>; outputs?: Array<{ path: string; tags: string[] }>; log?: { tags: string[] } | null; active?: boolean; resources?: Record<string, string>; image?: string; network?: boolean }) {
    const result = await this.client.applyPlan({
      image: spec.image ?? TEST_IMAGE,
      entrypoint: ['sh', '-c'],
      args: [spec.script],
      inputs: spec.inputs,
      outputs: spec.outputs ?? [],
      ...(spec.log !== undefined ? { log: spec.log } : {}),
      ...(spec.active !== undefined ? { active: spec.active } : {}),
      ...(spec.resources ? { resources: spec.resources } : {}),
      ...(spec.network !== undefined ? { network: spec.network } : {}),
    });
    return result.plan!;
  }

  runs(filter: { plans?: string[]; statuses?: string[] } = {}): Promise<RunDetail[]> {
    return this.client.findRuns(filter);
  }

  /** Waits until `check` holds for the runs (of `plans`, if given). */
  async waitRuns(what: string, check: (runs: RunDetail[]) => boolean, filter: { plans?: string[] } = {}, deadlineMs = 120_000): Promise<RunDetail[]> {
    return waitFor(
      what,
      async () => {
        const runs = await this.runs(filter);
        return check(runs) ? runs : undefined;
      },
      deadlineMs,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nworker log:\n${this.workerLog.slice(-4000)}`);
    });
  }

  async close(): Promise<void> {
    await this.stopWorker().catch(() => {});
    await this.temporal?.workflow
      .getHandle(matcherWorkflowId(this.instance))
      .terminate('test over')
      .catch(() => {});
    await this.connection?.close();
    await this.closeApi?.();
    await this.db?.drop();
    await this.cleanupHome?.();
  }
}

export const terminal = (r: RunDetail) => ['done', 'failed', 'invalidated'].includes(r.status);
