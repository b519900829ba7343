import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attemptActivities } from '../../activities/attempt.js';
import { DockerEngine } from '../../executor/docker/engine.js';
import { isolationSettings } from '../../executor/docker/isolation.js';
import { WorkerProcessEnv } from '../../executor/config.js';
import { DockerExecutor } from '../../executor/docker/docker-executor.js';
import { insertData } from '../../core/data/db.js';
import { withTx } from '../../core/db/pool.js';
import { createLogger } from '../../core/log/logger.js';
import { insertPlan } from '../../core/plan/db.js';
import { PlanSpec } from '../../core/plan/spec.js';
import { beginAttempt } from '../../core/run/attempt.js';
import { matchOutbox } from '../../core/run/matching.js';
import { LocalBlobStore } from '../../core/storage/local-store.js';
import { parseTag } from '../../core/tags/tag.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { TEST_IMAGE } from '../helpers/stack.js';

/**
 * runContainer on its own, against real Docker and a real database: a cancelled wait (a heartbeat
 * timeout, a workflow cancel, a worker shutdown) must end the activity, not the worker process.
 */
let db: TestDatabase;
let dir: string;
const docker = new DockerEngine();
const instance = `t${randomUUID().slice(0, 8)}`;

test.before(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'knit-activity-'));
});
test.after.always(async () => {
  for (const c of await docker.list({ 'knit.instance': instance })) await docker.remove(c.id).catch(() => {});
  for (const v of await docker.listVolumes({ 'knit.instance': instance })) await docker.removeVolume(v.name).catch(() => {});
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function startedAttempt(script: string) {
  const tag = `suite:${randomUUID().slice(0, 8)}`;
  await withTx(db.pool, (tx) => insertPlan(tx, PlanSpec.parse({ image: TEST_IMAGE, entrypoint: ['sh', '-c'], args: [script], inputs: [{ path: '/in', tags: [tag] }] })));
  const id = randomUUID();
  await withTx(db.pool, (tx) => insertData(tx, { id, size: 1, digest: `sha256:${'0'.repeat(64)}`, blobKey: `data/${id}`, tags: [parseTag(tag, 'tag')] }));
  for (;;) if (!(await matchOutbox(db.pool)).more) break;
  const run = await db.pool.query<{ id: string }>('SELECT r.id FROM run r JOIN run_input ri ON ri.run_id = r.id WHERE ri.data_id = $1', [id]);
  const begun = await withTx(db.pool, (tx) => beginAttempt(tx, run.rows[0]!.id));
  if (!begun.begun) throw new Error(`attempt not begun: ${begun.reason}`);
  return begun.context;
}

/** The SDK logs every cancelled activity as a warning; here that is the point, not news. */
const mockEnv = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

function activities() {
  const store = new LocalBlobStore(join(dir, 'storage'));
  const workdir = join(dir, 'work');
  const isolation = isolationSettings(WorkerProcessEnv.parse({ DATABASE_URL: 'unused' }));
  return attemptActivities({
    pool: db.pool,
    store,
    executor: new DockerExecutor({ docker, store, instance, workdir, pullTimeoutMs: 10_000, isolation, volumeIo: 'auto' }),
    log: createLogger('activity-test', 'silent'),
    wakeMatcher: async () => {},
    config: { workdir, stopGraceSeconds: 1 },
  });
}

/** An attempt begun, with its container created (not started) by the activity itself. */
async function containerCreated(script: string) {
  const ctx = await startedAttempt(script);
  const acts = activities();
  await mockEnv().run(acts.createContainer, ctx);
  return { ctx, acts };
}

test.serial('a cancelled container wait ends the activity with the cancellation; nothing escapes as an unhandled rejection', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => void process.off('unhandledRejection', onUnhandled));

  const { ctx, acts } = await containerCreated('echo started; sleep 30');
  const env = mockEnv();
  const running = env.run(acts.runContainer, ctx);
  t.is(await untilRunning(ctx.runId), 'running');
  await new Promise((r) => setTimeout(r, 500));

  env.cancel('TIMED_OUT');
  // Any error will do: the SDK reports an activity that throws after a cancel as cancelled.
  await t.throwsAsync(running);
  // Give a stray rejection the turns it needs to surface.
  await new Promise((r) => setTimeout(r, 300));
  t.deepEqual(unhandled, []);
  t.is(await untilRunning(ctx.runId), 'running', 'cancelling the wait leaves the container to the next attempt, which re-attaches');
});

async function untilRunning(runId: string) {
  const state = async () => {
    const [c] = await docker.list({ 'knit.run': runId });
    return c ? (await docker.inspect(c.id))?.status : undefined;
  };
  for (let i = 0; i < 200 && (await state()) !== 'running'; i++) await new Promise((r) => setTimeout(r, 100));
  return state();
}

test.serial('a container wait re-attached after a cancel still returns the exit code of the container', async (t) => {
  const { ctx, acts } = await containerCreated('echo one; sleep 2; echo two; exit 4');
  const first = mockEnv();
  const running = first.run(acts.runContainer, ctx);
  t.is(await untilRunning(ctx.runId), 'running');
  first.cancel('WORKER_SHUTDOWN');
  await t.throwsAsync(running);
  const result = await mockEnv().run(acts.runContainer, ctx);
  t.deepEqual(result, { exitCode: 4 });
});

test.serial('a cancel that arrives before the wait begins still ends it', async (t) => {
  const { ctx, acts } = await containerCreated('sleep 30');
  const env = mockEnv();
  env.cancel('CANCELLED');
  // Were the cancel missed, this would wait the container's 30 s out and return its exit code.
  await t.throwsAsync(env.run(acts.runContainer, ctx));
});

test.serial('resources stored before knit checked them are refused at create as a permanent failure naming the field', async (t) => {
  const ctx = await startedAttempt('true');
  // What an older knit accepted: a CPU share Docker takes at create, then fails to start, forever.
  const old = { ...ctx, resources: { cpu: '0.001' } };
  const err = await t.throwsAsync(mockEnv().run(activities().createContainer, old), { instanceOf: ApplicationFailure });
  t.true(err?.nonRetryable);
  t.regex(err!.message, /^resources\.cpu: must be at least 0\.01/);
  t.deepEqual(await docker.list({ 'knit.run': ctx.runId }), [], 'no container was made');
});
