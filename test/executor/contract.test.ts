import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extractArchive } from '../../core/archive/extract.js';
import { withTx } from '../../core/db/pool.js';
import { createLogger } from '../../core/log/logger.js';
import { beginAttempt, type StoredContent } from '../../core/run/attempt.js';
import { matchOutbox } from '../../core/run/matching.js';
import type { AttemptContext } from '../../core/run/model.js';
import { setStatus } from '../../core/run/store.js';
import { chunksOf } from '../../core/streams/chunks.js';
import { WorkerProcessEnv } from '../../executor/config.js';
import { RunRefused, type Executor, type LogLine } from '../../executor/executor.js';
import { openExecutor } from '../../executor/factory.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { clusterKubeconfig, withNamespace } from '../helpers/cluster.js';
import { POD_GATEWAY, TEST_IMAGE } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The executor contract: the same tests, word for word, against the Docker engine and the dev
 * Kubernetes cluster, each executor built by the worker's own factory. The API is real (the
 * Kubernetes agent fetches and uploads through it); the attempts are begun in its database as
 * the run workflow begins them.
 */
const KINDS = ['docker', 'kubernetes'] as const;
type Kind = (typeof KINDS)[number];

const secret = randomUUID().replace(/-/g, '').repeat(2);
let api: TestApi;
const executors = new Map<Kind, Executor>();
let scratch: { path: string; cleanup(): Promise<void> };
const hookTeardowns: Array<() => Promise<void>> = [];

test.before(async () => {
  scratch = await tempDir('knit-contract-');
  // Pods reach the API on the gateway of their bridge; Docker needs no address at all.
  api = await startTestApi({ agentSecret: secret, host: POD_GATEWAY });
  const namespace = await withNamespace({ teardown: (fn) => void hookTeardowns.push(fn) });
  const log = createLogger('contract', 'silent');
  for (const kind of KINDS) {
    const env = WorkerProcessEnv.parse({
      DATABASE_URL: api.db.url,
      KNIT_INSTANCE: `c${randomUUID().slice(0, 8)}`,
      KNIT_EXECUTOR: kind,
      KNIT_PULL_TIMEOUT: '10s',
      KNIT_AGENT_SECRET: secret,
      KNIT_AGENT_URL: api.url,
      KNIT_K8S_KUBECONFIG: clusterKubeconfig(),
      KNIT_K8S_NAMESPACE: namespace,
      KNIT_K8S_PENDING_TIMEOUT: '20s',
    });
    executors.set(kind, await openExecutor(env, { pool: api.db.pool, store: api.store, log, workdir: join(scratch.path, kind) }));
  }
});
test.after.always(async () => {
  for (const fn of hookTeardowns) await fn();
  await api?.close();
  await scratch?.cleanup();
});

/** A run of `script` begun in the database, as the run workflow's first step begins it, with one input of `files`. */
async function attemptOf(script: string, files: Record<string, string> = { a: 'input\n' }, image = TEST_IMAGE): Promise<AttemptContext> {
  const tag = `contract:${randomUUID().slice(0, 8)}`;
  const applied = await api.client.applyPlan({ image, entrypoint: ['sh', '-c'], args: [script], inputs: [{ path: '/in/x', tags: [tag] }], outputs: [{ path: '/out/y', tags: [`${tag}-out`] }] });
  const src = join(scratch.path, `src-${randomUUID()}`);
  await mkdir(src, { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(src, name), content);
  await api.client.pushDirectory(src, [tag]);
  for (;;) if (!(await matchOutbox(api.db.pool)).more) break;
  const run = await api.db.pool.query<{ id: string }>('SELECT id FROM run WHERE plan_id = $1', [applied.plan!.id]);
  const begun = await withTx(api.db.pool, (tx) => beginAttempt(tx, run.rows[0]!.id));
  if (!begun.begun) throw new Error(`attempt not begun: ${begun.reason}`);
  // As stageInputs leaves it: the agent may fetch inputs of a run that is starting or running.
  await setStatus(api.db.pool, begun.context.runId, begun.context.attempt, 'starting');
  return begun.context;
}

async function started(ex: Executor, ctx: AttemptContext): Promise<void> {
  await ex.stage(ctx, () => {});
  await ex.create(ctx, () => {});
  await ex.start(ctx);
}

async function lines(ex: Executor, ctx: AttemptContext, after?: string): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const batch of ex.logs(ctx, { follow: false, ...(after ? { after } : {}) })) out.push(...batch);
  return out;
}

async function files(content: StoredContent): Promise<Record<string, string>> {
  const dir = join(scratch.path, `out-${randomUUID()}`);
  await mkdir(dir);
  await extractArchive(chunksOf(await api.store.get(content.blobKey)), dir);
  const out: Record<string, string> = {};
  for (const name of await readdir(dir)) out[name] = await readFile(join(dir, name), 'utf8');
  return out;
}

const bounded = (ms: number) => AbortSignal.timeout(ms);

for (const kind of KINDS) {
  const ex = () => executors.get(kind)!;

  test(`${kind}: a command reads its inputs read-only, writes into empty outputs; exit 0, its log, its outputs; release leaves nothing, not even a log`, async (t) => {
    const ctx = await attemptOf('n=$(ls -A /out/y | wc -l); cat /in/x/a > /out/y/copy; (touch /in/x/new 2>/dev/null && echo writable || echo read-only) > /out/y/inputs; echo $n > /out/y/count; echo one; echo two');
    await ex().stage(ctx, () => {});
    await ex().create(ctx, () => {});
    t.deepEqual(await ex().state(ctx), { phase: 'created' });
    await ex().start(ctx);
    t.deepEqual(await ex().wait(ctx, bounded(120_000)), { exitCode: 0 });
    t.deepEqual(await ex().state(ctx), { phase: 'exited', exitCode: 0 });
    const log = await lines(ex(), ctx);
    t.deepEqual(log.map((l) => l.text), ['one', 'two']);
    for (const l of log) t.regex(l.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const collected = await ex().collect(ctx, () => {});
    t.deepEqual(collected.problems, []);
    t.is(collected.contents.length, 1);
    t.is(collected.contents[0]!.dataId, ctx.outputs[0]!.dataId);
    t.deepEqual(await files(collected.contents[0]!), { copy: 'input\n', inputs: 'read-only\n', count: '0\n' });
    await ex().release(ctx);
    t.deepEqual(await ex().state(ctx), { phase: 'absent' });
    // The stored log is read without asking first whether the container is still there.
    t.deepEqual(await lines(ex(), ctx), [], 'no container, no log lines, and no error');
    for await (const left of ex().leftovers()) t.not(left.runId, ctx.runId, 'nothing of the attempt is left');
  });

  test(`${kind}: a non-zero exit code is the run's`, async (t) => {
    const ctx = await attemptOf('echo failing; exit 3');
    t.teardown(() => ex().release(ctx));
    await started(ex(), ctx);
    t.deepEqual(await ex().wait(ctx, bounded(120_000)), { exitCode: 3 });
    t.deepEqual((await ex().collect(ctx, () => {})).problems, []);
  });

  test(`${kind}: stop sends SIGTERM to the running command; what it wrote, also in its trap, is collected`, async (t) => {
    const ctx = await attemptOf('echo partial > /out/y/partial; trap "echo stopped > /out/y/trap; exit 0" TERM; echo ready; while :; do sleep 1; done');
    t.teardown(() => ex().release(ctx));
    await started(ex(), ctx);
    for (let i = 0; i < 600 && !(await lines(ex(), ctx)).some((l) => l.text === 'ready'); i++) await new Promise((r) => setTimeout(r, 200));
    await ex().stop(ctx, 10);
    t.deepEqual(await ex().wait(ctx, bounded(60_000)), { exitCode: 0 });
    const collected = await ex().collect(ctx, () => {});
    t.deepEqual(await files(collected.contents[0]!), { partial: 'partial\n', trap: 'stopped\n' });
  });

  test(`${kind}: an image the platform does not have and cannot pull is refused as ImageUnavailable`, async (t) => {
    const ctx = await attemptOf('true', { a: '1' }, 'knit-test/absent:1');
    t.teardown(() => ex().release(ctx));
    const err = await t.throwsAsync(
      (async () => {
        await started(ex(), ctx);
        await ex().wait(ctx, bounded(120_000));
      })(),
    );
    t.true(err instanceof RunRefused, String(err));
    t.is((err as RunRefused).reason, 'ImageUnavailable');
    t.regex(err!.message, /knit-test\/absent:1/);
  });

  test(`${kind}: the log from after a line's timestamp holds only the lines after it`, async (t) => {
    const ctx = await attemptOf('echo one; sleep 1.2; echo two; sleep 1.2; echo three');
    t.teardown(() => ex().release(ctx));
    await started(ex(), ctx);
    await ex().wait(ctx, bounded(120_000));
    const all = await lines(ex(), ctx);
    t.deepEqual(all.map((l) => l.text), ['one', 'two', 'three']);
    t.deepEqual((await lines(ex(), ctx, all[0]!.timestamp)).map((l) => l.text), ['two', 'three']);
  });

  test(`${kind}: an attempt left behind is among the leftovers, and removing it removes all of it`, async (t) => {
    const ctx = await attemptOf('true');
    await ex().stage(ctx, () => {});
    await ex().create(ctx, () => {});
    let found;
    for await (const left of ex().leftovers()) if (left.runId === ctx.runId && left.attempt === ctx.attempt) found = left;
    t.truthy(found);
    await found!.remove();
    for (let i = 0; i < 120 && (await ex().state(ctx)).phase !== 'absent'; i++) await new Promise((r) => setTimeout(r, 500));
    t.deepEqual(await ex().state(ctx), { phase: 'absent' });
  });
}
