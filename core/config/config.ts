import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { MIN_SECRET_LENGTH } from '../agent/token.js';
import { LIMITS } from '../limits/limits.js';
import { parseOrThrow } from '../validation/parse.js';
import { TemporalEnv } from './temporal.js';
import { parseQuantity } from '../plan/quantity.js';
import { hostResourceBounds } from '../plan/resource-bounds.js';
import { parseBytes, parseDuration } from './units.js';

/** A setting written as text and read as a positive number: a size, a duration, a quantity. */
const positive = (parse: (s: string) => number | undefined, example: string) => (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((s, ctx) => {
      const n = parse(s);
      if (n === undefined || n <= 0) {
        ctx.addIssue({ code: 'custom', message: `must be ${example}, got ${JSON.stringify(s)}` });
        return z.NEVER;
      }
      return n;
    });

const bytes = positive(parseBytes, 'a size such as 100MB or 2GiB');
const duration = positive(parseDuration, 'a duration such as 30s or 5m');
/** A resource bound in the plans' own quantity notation (`8`, `500m`, `64Gi`), finite and positive. */
const quantity = positive(parseQuantity, 'a quantity such as 8, 1500m or 64Gi');

const int = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);

const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true');

/** Linux capability names, with or without the CAP_ prefix, comma-separated; empty for none. */
const capabilities = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((s, ctx) => {
      const caps = s.split(',').map((c) => c.trim().toUpperCase().replace(/^CAP_/, '')).filter((c) => c !== '');
      const bad = caps.find((c) => !/^[A-Z][A-Z_]*$/.test(c) || c === 'ALL');
      if (bad !== undefined) {
        ctx.addIssue({ code: 'custom', message: `must be capability names such as CHOWN,SETUID (not ALL), got ${JSON.stringify(bad)}` });
        return z.NEVER;
      }
      return [...new Set(caps)];
    });

/** http(s) URLs, comma-separated, in order; empty for none. */
const urlList = z
  .string()
  .default('')
  .transform((s, ctx) => {
    const urls = s.split(',').map((u) => u.trim()).filter((u) => u !== '');
    for (const u of urls) {
      if (!URL.canParse(u) || !/^https?:$/.test(new URL(u).protocol)) {
        ctx.addIssue({ code: 'custom', message: `must be http(s) URLs, comma-separated, got ${JSON.stringify(u)}` });
        return z.NEVER;
      }
    }
    return urls;
  });

/** Setting types for the configurations of adapters (executor/, storage). */
export const setting = { bytes, duration, quantity, int, flag };

/** The server-side configuration, read from the environment (12-factor, so pods and `knit up` agree). */
export const ServerEnv = TemporalEnv.extend({
  KNIT_HOME: z.string().min(1).default(join(homedir(), '.knit')),
  DATABASE_URL: z.string().min(1).optional(),
  KNIT_TOKEN: z.string().min(1).optional(),
  /**
   * Signs the run-scoped tokens of Kubernetes Pods' agents (core/agent/token.ts); shared by knitd
   * and the worker. Unset: the agent routes answer 404.
   */
  KNIT_AGENT_SECRET: z.string().min(MIN_SECRET_LENGTH, `must be at least ${MIN_SECRET_LENGTH} characters (generate one with: openssl rand -hex 32)`).optional(),
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
  /** Where Data archives and logs live: a local folder (KNIT_STORAGE_DIR) or a GCS bucket. */
  KNIT_STORAGE: z.enum(['local', 'gcs'], { error: 'must be local or gcs' }).default('local'),
  KNIT_GCS_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/, 'must be a GCS bucket name').optional(),
  /** Objects go under this prefix ('' or ending in '/'), so one bucket may serve several knits. */
  KNIT_GCS_PREFIX: z.string().regex(/^([A-Za-z0-9][A-Za-z0-9._-]*\/)*$/, "must be empty or folder-like, ending in '/'").default(''),
  /** Another endpoint than Google's, such as an emulator (fake-gcs-server). */
  KNIT_GCS_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  KNIT_GCS_PROJECT: z.string().min(1).optional(),
  /**
   * Whether knit's own client may download a Data archive straight from the bucket by a signed
   * URL (knitd answers a redirect) instead of through knitd. Signing needs credentials that can
   * sign: a service-account key, or the iam.serviceAccounts.signBlob permission.
   */
  KNIT_GCS_SIGNED_URLS: flag(false),
  /** apply refuses to create more runs than this at once, unless asked to with `yes`. */
  KNIT_MAX_RUNS_PER_APPLY: int(100),
  /** The most nodes one lineage answer holds; a request's `max` may ask fewer, never more. */
  KNIT_LINEAGE_MAX_NODES: z.coerce.number().int().positive().default(LIMITS.lineageNodes),
  /** The longest one API query may run on the database; longer ones are cancelled and answered 503. */
  KNIT_STATEMENT_TIMEOUT: duration('30s'),
  /**
   * The most CPU and memory one run may ask for; apply refuses more. The defaults are this
   * host's, right for `knit up` where the API and the containers share the machine. On a cluster
   * the API does not run where containers do: set them to the largest execution node's.
   */
  KNIT_MAX_CPU: quantity(String(hostResourceBounds().maxCpu)),
  KNIT_MAX_MEMORY: quantity(String(hostResourceBounds().maxMemory)),
  /** Whether plans may ask for the network (`network: true`); false refuses them at apply. */
  KNIT_ALLOW_NETWORK: flag(true),
});
export type ServerEnv = z.output<typeof ServerEnv>;

/** A duration kept as text, as Temporal takes it (activity timeouts, timers), checked here. */
const temporalDuration = (fallback: string) => z.string().regex(/^\d+(ms|s|m)$/, 'must be a duration such as 30s or 5m').default(fallback);

/**
 * Containers one worker runs at once unless KNIT_MAX_CONCURRENT_RUNS says otherwise: two per core
 * of the machine, since a run's container mostly waits on its own work while the engine's
 * create, start and removal of the others keep a core busy; never fewer than 4.
 */
export function defaultConcurrentRuns(): number {
  return Math.max(4, 2 * availableParallelism());
}

/** The worker's configuration: what the API has, plus how runs execute (the executor's own is in executor/config.ts). */
export const WorkerEnv = ServerEnv.extend({
  DATABASE_URL: z.string({ error: 'DATABASE_URL must be set for the worker (knit up sets it)' }).min(1),
  /** Containers running at once on this worker. */
  KNIT_MAX_CONCURRENT_RUNS: int(defaultConcurrentRuns()),
  /** How long a silent worker is trusted before its container waits move to another. */
  KNIT_HEARTBEAT_TIMEOUT: temporalDuration('30s'),
  /** The longest a short step of a run (not a transfer, not the container) may take. */
  KNIT_STEP_TIMEOUT: temporalDuration('5m'),
  /** How often the matcher reconciles unprompted, and sweeps for runs whose workflow closed unfinished. */
  KNIT_MATCHER_BACKSTOP: temporalDuration('30s'),
  KNIT_STOP_GRACE_SECONDS: int(10),
  KNIT_WORKDIR: z.string().min(1).optional(),
  /** Where the worker answers its probes (worker/health.ts), as HOST:PORT; unset, it serves none. */
  KNIT_HEALTH_LISTEN: z.string().regex(/^[^:]+:\d+$/, 'must be HOST:PORT').optional(),
  // Container isolation (README "Container isolation"): safe defaults, each one a knob.
  /** Capabilities a run keeps; every other one is dropped. */
  KNIT_CAP_ADD: capabilities('CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,SETGID,SETUID'),
  KNIT_NO_NEW_PRIVILEGES: flag(true),
  /** Processes and threads one run may have at once; 0 for no limit. */
  KNIT_PIDS_LIMIT: int(4096),
  /** A read-only root filesystem, with a tmpfs on /tmp of KNIT_TMPFS_SIZE. */
  KNIT_READONLY_ROOTFS: flag(false),
  KNIT_TMPFS_SIZE: bytes('1GiB'),
  /** The user runs are run as (`uid[:gid]`); empty for the image's own user. */
  KNIT_CONTAINER_USER: z
    .string()
    .regex(/^(\d+(:\d+)?)?$/, 'must be uid or uid:gid (numbers), or empty for the image\'s user')
    .default(''),
  // Lifecycle hooks (docs/hooks.md): Knitfab's webhooks around every status change a run's workflow makes.
  /** POSTed the run (Knitfab's RunDetail) before each change, in order; they may refuse it. */
  KNIT_HOOKS_BEFORE: urlList,
  /** POSTed the run after each change, at most once; their answers are ignored. */
  KNIT_HOOKS_AFTER: urlList,
  /** The longest one hook call may take. */
  KNIT_HOOKS_TIMEOUT: temporalDuration('10s'),
  /** How many times the before hooks of one change are tried (1: no retry) before they count as refusing. */
  KNIT_HOOKS_BEFORE_ATTEMPTS: z.coerce.number().int().min(1).default(5),
});
export type WorkerEnv = z.output<typeof WorkerEnv>;

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
