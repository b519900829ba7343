import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { findTemporalCli, startDevServer, type DevServer } from '../../cli/up/temporal.js';
import { databaseAt } from '../../core/db/embedded.js';
import { migrate } from '../../core/db/migrate.js';
import { openPool, type Pool } from '../../core/db/pool.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

export interface BenchStack {
  api: string;
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
export async function startBenchStack(work: string, extraEnv: Record<string, string> = {}): Promise<BenchStack> {
  mkdirSync(work, { recursive: true });
  const database = await databaseAt(process.env['DATABASE_URL'] || undefined, join(work, 'pgdata'));
  const databaseUrl = database.url;
  const pool = openPool(databaseUrl, { max: 4 });
  await migrate(pool);
  let temporal: DevServer | undefined;
  let temporalAddress = process.env['TEMPORAL_ADDRESS'];
  if (!temporalAddress) {
    const port = 17_000 + Math.floor(Math.random() * 2000);
    temporal = await startDevServer({ cli: await findTemporalCli(work, () => {}), dbFile: join(work, 'temporal.db'), port, uiPort: undefined });
    temporalAddress = temporal.address;
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    KNIT_HOME: work,
    KNIT_INSTANCE: `bench${process.pid}`,
    KNIT_LISTEN: '127.0.0.1:0',
    KNIT_LOG_LEVEL: 'warn',
    KNIT_MAX_RUNS_PER_APPLY: '1000000',
    ...extraEnv,
  };
  const api = await child('knitd.js', env, /^knitd listening on (\S+)/);
  const worker = await child('knit-worker.js', env, /knit-worker ready/);
  return {
    api: /^knitd listening on (\S+)/.exec(api.line)![1]!,
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
      await pool.end();
      if (temporal) {
        const gone = new Promise((r) => temporal!.process.once('exit', r));
        temporal.process.kill('SIGTERM');
        await gone;
      }
      await database.stop();
    },
  };
}
