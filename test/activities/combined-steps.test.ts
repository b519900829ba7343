import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import test from 'ava';
import { createHash, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { attemptActivities } from '../../activities/attempt.js';
import { combinedAttemptSteps } from '../../activities/combined-steps.js';
import { insertData } from '../../core/data/db.js';
import { withTx } from '../../core/db/pool.js';
import { createLogger } from '../../core/log/logger.js';
import { insertPlan } from '../../core/plan/db.js';
import { PlanSpec } from '../../core/plan/spec.js';
import { beginAttempt } from '../../core/run/attempt.js';
import { matchOutbox } from '../../core/run/matching.js';
import { LocalBlobStore } from '../../core/storage/local-store.js';
import { parseTag } from '../../core/tags/tag.js';
import { WorkerProcessEnv } from '../../executor/config.js';
import { DockerExecutor } from '../../executor/docker/docker-executor.js';
import { DockerEngine } from '../../executor/docker/engine.js';
import { isolationSettings } from '../../executor/docker/isolation.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { TEST_IMAGE } from '../helpers/stack.js';
import { craftTar } from '../helpers/tar.js';

/**
 * The grouped steps of an attempt (activities/combined-steps.ts) against real Docker and a real
 * database: one activity readies and runs the container, a retry never readies it twice, and a
 * container removed behind knit's back is not run again.
 */
let db: TestDatabase;
let dir: string;
let store: LocalBlobStore;
const docker = new DockerEngine();
const instance = `t${randomUUID().slice(0, 8)}`;

test.before(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'knit-combined-'));
  store = new LocalBlobStore(join(dir, 'storage'));
});
test.after.always(async () => {
  for (const c of await docker.list({ 'knit.instance': instance })) await docker.remove(c.id).catch(() => {});
  for (const v of await docker.listVolumes({ 'knit.instance': instance })) await docker.removeVolume(v.name).catch(() => {});
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const mockEnv = (info: { heartbeatDetails?: unknown; attempt?: number } = {}) => {
  const env = new MockActivityEnvironment(info, { logger: new DefaultLogger('ERROR') });
  return { run: <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...a: A) => env.run(fn, ...a) as Promise<R> };
};

/** A begun attempt of a plan copying its input to its output, over a real stored input. */
async function begunAttempt(script: string) {
  const tag = `suite:${randomUUID().slice(0, 8)}`;
  await withTx(db.pool, (tx) =>
    insertPlan(tx, PlanSpec.parse({ image: TEST_IMAGE, entrypoint: ['sh', '-c'], args: [script], inputs: [{ path: '/in', tags: [tag] }], outputs: [{ path: '/out', tags: [`${tag}-out`] }] })),
  );
  const id = randomUUID();
  const archive = await craftTar([{ name: 'greeting', type: 'file', content: 'hello from the input\n' }]);
  await store.put(`data/${id}`, Readable.from([archive]));
  const digest = `sha256:${createHash('sha256').update(archive).digest('hex')}`;
  await withTx(db.pool, (tx) => insertData(tx, { id, size: archive.length, digest, blobKey: `data/${id}`, tags: [parseTag(tag, 'tag')] }));
  for (;;) if (!(await matchOutbox(db.pool)).more) break;
  const run = await db.pool.query<{ id: string }>('SELECT r.id FROM run r JOIN run_input ri ON ri.run_id = r.id WHERE ri.data_id = $1', [id]);
  const begun = await withTx(db.pool, (tx) => beginAttempt(tx, run.rows[0]!.id));
  if (!begun.begun) throw new Error(`attempt not begun: ${begun.reason}`);
  return begun.context;
}

/** The grouped steps over the real ones, each part counted. */
function grouped() {
  const workdir = join(dir, 'work');
  const isolation = isolationSettings(WorkerProcessEnv.parse({ DATABASE_URL: 'unused' }));
  const executor = new DockerExecutor({ docker, store, instance, workdir, pullTimeoutMs: 10_000, isolation, volumeIo: 'auto' });
  const steps = attemptActivities({ pool: db.pool, store, executor, log: createLogger('combined-test', 'silent'), wakeMatcher: async () => {}, config: { workdir, stopGraceSeconds: 1 } });
  const calls: string[] = [];
  const counted = <A extends unknown[], T>(name: string, fn: (...a: A) => Promise<T>) => (...a: A) => {
    calls.push(name);
    return fn(...a);
  };
  const parts = {
    stageInputs: counted('stageInputs', steps.stageInputs),
    createContainer: counted('createContainer', steps.createContainer),
    runContainer: counted('runContainer', steps.runContainer),
    collectOutputs: counted('collectOutputs', steps.collectOutputs),
    collectLog: counted('collectLog', steps.collectLog),
  };
  return { ...combinedAttemptSteps(parts, executor), steps, calls };
}

test.serial('one activity stages, creates and runs the container; a retry after it ran only follows it to its end', async (t) => {
  const ctx = await begunAttempt('cat /in/greeting > /out/copy; echo ran; exit 3');
  const g = grouped();
  const first = await mockEnv().run(g.prepareAndRunContainer, ctx);
  t.is(first.exitCode, 3);
  t.deepEqual(first.warnings, []);
  t.deepEqual([...g.calls].sort(), ['createContainer', 'runContainer', 'stageInputs']);

  // As Temporal retries it when the first try's worker died after the container had run.
  g.calls.length = 0;
  const again = await mockEnv({ heartbeatDetails: { seq: 1 }, attempt: 2 }).run(g.prepareAndRunContainer, ctx);
  t.is(again.exitCode, 3);
  t.deepEqual(g.calls, ['runContainer'], 'neither staged nor created a second time');

  const { collected, log } = await mockEnv().run(g.collectResults, ctx, { notes: [], message: null });
  t.deepEqual(collected.problems, []);
  t.is(collected.contents.length, 1);
  t.is(log.dataId, ctx.log.dataId);
  const out = join(dir, 'out.tar');
  execFileSync('bash', ['-c', `cat > '${out}'`], { input: Buffer.concat(await chunks(await store.get(collected.contents[0]!.blobKey))) });
  t.is(execFileSync('tar', ['-xOf', out, 'copy']).toString(), 'hello from the input\n', 'the input was staged where the container read it');
});

test.serial('a container removed outside knit after an earlier try created it is not run again', async (t) => {
  const ctx = await begunAttempt('true');
  const g = grouped();
  const err = await t.throwsAsync(mockEnv({ heartbeatDetails: { created: true }, attempt: 2 }).run(g.prepareAndRunContainer, ctx), { instanceOf: ApplicationFailure });
  t.true(err?.nonRetryable);
  t.is(err?.type, 'ContainerGone');
  t.deepEqual(g.calls, []);
  t.deepEqual(await docker.list({ 'knit.run': ctx.runId }), []);
});

test.serial('a retry whose first try died before the container started readies it again and runs it once', async (t) => {
  const ctx = await begunAttempt('echo once');
  const g = grouped();
  // The first try got as far as creating it.
  await mockEnv().run(g.steps.createContainer, ctx);
  const result = await mockEnv({ heartbeatDetails: { created: true }, attempt: 2 }).run(g.prepareAndRunContainer, ctx);
  t.is(result.exitCode, 0);
  t.deepEqual([...g.calls].sort(), ['createContainer', 'runContainer', 'stageInputs']);
  const [c] = await docker.list({ 'knit.run': ctx.runId });
  t.truthy(c);
  t.is((await docker.inspect(c!.id))?.status, 'exited');
});

async function chunks(r: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(c);
  return out;
}
