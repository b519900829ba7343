import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parseOrThrow } from '../validation/parse.js';
import { TemporalEnv } from './temporal.js';
import { parseBytes, parseDuration } from './units.js';

const bytes = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((s, ctx) => {
      const n = parseBytes(s);
      if (n === undefined || n <= 0) {
        ctx.addIssue({ code: 'custom', message: `must be a size such as 100MB or 2GiB, got ${JSON.stringify(s)}` });
        return z.NEVER;
      }
      return n;
    });

const int = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);

/** The server-side configuration, read from the environment (12-factor, so pods and `knit up` agree). */
export const ServerEnv = TemporalEnv.extend({
  KNIT_HOME: z.string().min(1).default(join(homedir(), '.knit')),
  DATABASE_URL: z.string().min(1).optional(),
  KNIT_TOKEN: z.string().min(1).optional(),
  KNIT_LISTEN: z
    .string()
    .regex(/^[^:]+:\d+$/, 'must be HOST:PORT')
    .default('127.0.0.1:7420'),
  KNIT_MAX_DATA_BYTES: bytes('1TiB'),
  /** Uploads and objects younger than this are never garbage-collected: another replica may own them. */
  KNIT_GC_GRACE_SECONDS: int(3600),
  /** How often leftovers (interrupted uploads, finished attempts' live logs) are swept while running; 0: only at start-up. */
  KNIT_GC_INTERVAL_SECONDS: int(600),
  KNIT_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  KNIT_STORAGE_DIR: z.string().min(1).optional(),
  /** apply refuses to create more runs than this at once, unless asked to with `yes`. */
  KNIT_MAX_RUNS_PER_APPLY: int(100),
});
export type ServerEnv = z.output<typeof ServerEnv>;

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: `must be a duration such as 30s or 5m, got ${JSON.stringify(s)}` });
        return z.NEVER;
      }
      return ms;
    });

/** A duration kept as text, as Temporal takes it (activity timeouts, timers), checked here. */
const temporalDuration = (fallback: string) => z.string().regex(/^\d+(ms|s|m)$/, 'must be a duration such as 30s or 5m').default(fallback);

/** The worker's configuration: what the API has, plus how runs execute. */
export const WorkerEnv = ServerEnv.extend({
  DATABASE_URL: z.string({ error: 'DATABASE_URL must be set for the worker (knit up sets it)' }).min(1),
  /** Containers running at once on this worker. */
  KNIT_MAX_CONCURRENT_RUNS: int(4),
  /** How long a silent worker is trusted before its container waits move to another. */
  KNIT_HEARTBEAT_TIMEOUT: temporalDuration('30s'),
  /** The longest a short step of a run (not a transfer, not the container) may take. */
  KNIT_STEP_TIMEOUT: temporalDuration('5m'),
  /** How often the matcher reconciles unprompted, and sweeps for runs whose workflow closed unfinished. */
  KNIT_MATCHER_BACKSTOP: temporalDuration('30s'),
  KNIT_PULL_TIMEOUT: duration('60s'),
  KNIT_STOP_GRACE_SECONDS: int(10),
  KNIT_WORKDIR: z.string().min(1).optional(),
  DOCKER_SOCKET: z.string().min(1).default('/var/run/docker.sock'),
});
export type WorkerEnv = z.output<typeof WorkerEnv>;

export function readWorkerEnv(env: NodeJS.ProcessEnv = process.env): WorkerEnv {
  return parseOrThrow(WorkerEnv, env, 'env');
}

export function workDir(cfg: Pick<WorkerEnv, 'KNIT_HOME' | 'KNIT_WORKDIR' | 'KNIT_INSTANCE'>): string {
  return cfg.KNIT_WORKDIR ?? join(cfg.KNIT_HOME, 'work', cfg.KNIT_INSTANCE);
}

export function readServerEnv(env: NodeJS.ProcessEnv = process.env): ServerEnv {
  return parseOrThrow(ServerEnv, env, 'env');
}

export function storageDir(cfg: Pick<ServerEnv, 'KNIT_HOME' | 'KNIT_STORAGE_DIR'>): string {
  return cfg.KNIT_STORAGE_DIR ?? join(cfg.KNIT_HOME, 'storage');
}

export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost' || host.startsWith('127.');
}
