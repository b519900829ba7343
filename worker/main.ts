import { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { existsSync, writeFileSync } from 'node:fs';
import { heartbeatWhile } from '../activities/heartbeat.js';
import { createActivities } from '../activities/index.js';
import { workDir } from '../core/config/config.js';
import { taskQueues } from '../core/config/temporal.js';
import { parseDuration } from '../core/config/units.js';
import { migrate } from '../core/db/migrate.js';
import { openPool } from '../core/db/pool.js';
import { createLogger, type Logger } from '../core/log/logger.js';
import { openBlobStore } from '../core/storage/factory.js';
import { readWorkerEnv, type WorkerProcessEnv } from '../executor/config.js';
import { openExecutor } from '../executor/factory.js';
import { wakeMatcher } from '../core/temporal/wake-matcher.js';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions.js';
import { WORKFLOW_BUNDLE } from './bundle.js';
import { sweepLeftovers, sweepLiveLogs } from './sweep.js';
import { startPeriodicSweep } from '../core/data/gc-loop.js';
import { startHealthServer, type HealthServer } from './health.js';

/** Registers knit's search attributes; existing ones are fine (another worker got there first). */
async function ensureSearchAttributes(connection: NativeConnection, namespace: string, log: Logger): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = SEARCH_ATTRIBUTES.filter((k) => !(k.name in (existing.customAttributes ?? {})));
  if (missing.length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((k) => [k.name, 2 /* KEYWORD */])),
    });
    log.info({ added: missing.map((k) => k.name) }, 'registered search attributes');
  } catch (err) {
    if (!/already exists/i.test((err as Error).message)) throw err;
  }
}

/**
 * Crash testing: with KNIT_FAULT=<activity>:<before|after>, this process kills itself (SIGKILL)
 * right before that activity does its work, or right after it did but before Temporal hears of
 * it, the first time only (KNIT_FAULT_MARKER records that it happened). With <activity>:hang, that
 * activity, the first time only, never ends but heartbeats, as a slow image pull or a long lock
 * wait does: the test then kills this worker while it holds the activity. Unset, it changes nothing.
 */
function withFaultInjection<A extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: A, fault: string | undefined, marker: string | undefined): A {
  if (!fault) return activities;
  const [name, when] = fault.split(':');
  if (!name || !(name in activities) || (when !== 'before' && when !== 'after' && when !== 'hang') || !marker) {
    throw new Error(`KNIT_FAULT=${fault}: expected <activity>:<before|after|hang> with KNIT_FAULT_MARKER set`);
  }
  const firstTime = () => {
    if (existsSync(marker)) return false;
    writeFileSync(marker, `${process.pid}\n`);
    return true;
  };
  const crash = () => {
    if (firstTime()) process.kill(process.pid, 'SIGKILL');
  };
  const original = activities[name]!;
  const wrapped = async (...args: never[]) => {
    if (when === 'hang' && firstTime()) await heartbeatWhile(() => new Promise<never>(() => {}));
    if (when === 'before') crash();
    const result = await original(...args);
    if (when === 'after') crash();
    return result;
  };
  return { ...activities, [name]: wrapped };
}

/** The SDK's default sticky schedule-to-start timeout: longer would only slow a takeover. */
const STICKY_TIMEOUT_CAP_MS = 10_000;

export interface RunningWorker {
  stop(): Promise<void>;
  done: Promise<void>;
  /** Where its health server (KNIT_HEALTH_LISTEN) listens, when it has one. */
  healthUrl: string | undefined;
}

export async function startWorker(env: WorkerProcessEnv): Promise<RunningWorker> {
  const log = createLogger('knit-worker', env.KNIT_LOG_LEVEL);
  // The SDK's own state-change chatter is noise next to knit's logs unless debugging.
  Runtime.install({ logger: new DefaultLogger(env.KNIT_LOG_LEVEL === 'debug' || env.KNIT_LOG_LEVEL === 'trace' ? 'DEBUG' : 'WARN') });
  if (!existsSync(WORKFLOW_BUNDLE)) throw new Error(`the workflow bundle ${WORKFLOW_BUNDLE} is missing; run npm run build`);
  const queues = taskQueues(env.KNIT_INSTANCE);
  const pool = openPool(env.DATABASE_URL, { max: 10, applicationName: 'knit-worker' });
  await migrate(pool);
  const store = openBlobStore(env);
  const workdir = workDir(env);
  const executor = await openExecutor(env, { pool, store, log, workdir });
  const swept = await sweepLeftovers({ pool, executor, store, workdir, scratchGraceMs: env.KNIT_GC_GRACE_SECONDS * 1000 });
  if (swept.attempts + swept.scratch + swept.liveLogs > 0) log.info(swept, 'removed leftovers of earlier attempts');

  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  await ensureSearchAttributes(connection, env.TEMPORAL_NAMESPACE, log);
  // The workers' own connection: only through it may the matcher start run workflows eagerly.
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });

  const hooks = { before: env.KNIT_HOOKS_BEFORE, after: env.KNIT_HOOKS_AFTER, timeoutMs: parseDuration(env.KNIT_HOOKS_TIMEOUT)! };
  const hooked = hooks.before.length + hooks.after.length > 0;
  const wake = () => wakeMatcher(client, env.KNIT_INSTANCE, { heartbeatTimeout: env.KNIT_HEARTBEAT_TIMEOUT });
  const activities = createActivities({
    pool,
    store,
    executor,
    client,
    log,
    wakeMatcher: wake,
    hooks,
    config: {
      workdir,
      stopGraceSeconds: env.KNIT_STOP_GRACE_SECONDS,
      taskQueue: queues.main,
      containerQueue: queues.containers,
      heartbeatTimeout: env.KNIT_HEARTBEAT_TIMEOUT,
      stepTimeout: env.KNIT_STEP_TIMEOUT,
      startBatch: 200,
      backstop: env.KNIT_MATCHER_BACKSTOP,
      eagerStart: true,
      ...(hooked
        ? {
            hooks: {
              before: hooks.before.length > 0,
              after: hooks.after.length > 0,
              callTimeoutMs: hooks.timeoutMs,
              count: Math.max(hooks.before.length, hooks.after.length),
              beforeAttempts: env.KNIT_HOOKS_BEFORE_ATTEMPTS,
            },
          }
        : {}),
    },
  }, (steps) => withFaultInjection(steps, process.env['KNIT_FAULT'], process.env['KNIT_FAULT_MARKER']));
  const { runContainer, prepareAndRunContainer, ...steps } = activities;
  const main = await Worker.create({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: queues.main,
    workflowBundle: { codePath: WORKFLOW_BUNDLE },
    activities: steps,
    // A workflow task queued for this worker's cache (its sticky queue) goes to any worker when
    // this one has not taken it within this time: a killed worker delays its workflows by no more
    // than the heartbeat timeout (capped at the SDK's default of 10 s).
    stickyQueueScheduleToStartTimeout: Math.min(parseDuration(env.KNIT_HEARTBEAT_TIMEOUT)!, STICKY_TIMEOUT_CAP_MS),
    shutdownGraceTime: '5s',
  });
  // Container waits get their own queue: its concurrency is the number of containers at once
  // (with the readying of each, when its steps are grouped: combined-steps.ts).
  const containers = await Worker.create({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: queues.containers,
    activities: { runContainer, prepareAndRunContainer },
    maxConcurrentActivityTaskExecutions: env.KNIT_MAX_CONCURRENT_RUNS,
    shutdownGraceTime: '2s',
  });

  // The matcher must exist even before the first change arrives: its backstop does the rest.
  await wake();

  // Attempts end while the worker runs; their live logs should not wait for the next restart.
  const sweeper = startPeriodicSweep(
    env.KNIT_GC_INTERVAL_SECONDS * 1000,
    async () => {
      const liveLogs = await sweepLiveLogs({ pool });
      if (liveLogs > 0) log.info({ liveLogs }, 'removed live logs of finished attempts');
    },
    (err) => log.warn({ err }, 'sweeping live logs failed; will retry'),
  );
  const health: HealthServer | undefined = env.KNIT_HEALTH_LISTEN
    ? await startHealthServer(env.KNIT_HEALTH_LISTEN, () => ({ main: main.getState(), containers: containers.getState() }))
    : undefined;
  const done = Promise.all([main.run(), containers.run()]).then(async () => {
    await health?.close();
    await sweeper.stop();
    await connection.close();
    await pool.end();
  });
  log.info({ executor: executor.kind, taskQueue: queues.main, containerQueue: queues.containers, concurrency: env.KNIT_MAX_CONCURRENT_RUNS, ...(hooked ? { hooksBefore: hooks.before.length, hooksAfter: hooks.after.length } : {}), ...(health ? { health: health.url } : {}) }, 'worker started');
  return {
    done,
    healthUrl: health?.url,
    async stop() {
      main.shutdown();
      containers.shutdown();
      await done;
    },
  };
}

/** The `knit-worker` executable. */
export async function main(): Promise<void> {
  const worker = await startWorker(readWorkerEnv());
  process.stdout.write(`knit-worker ready${worker.healthUrl ? ` (health ${worker.healthUrl})` : ''}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    worker.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await worker.done;
}
