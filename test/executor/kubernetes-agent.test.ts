import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mintAgentToken } from '../../core/agent/token.js';
import { extractArchive } from '../../core/archive/extract.js';
import { withTx } from '../../core/db/pool.js';
import { createLogger } from '../../core/log/logger.js';
import { beginAttempt } from '../../core/run/attempt.js';
import type { AttemptContext } from '../../core/run/model.js';
import { uploadsOf } from '../../core/run/uploads.js';
import { AGENT_ENTRYPOINT, agentImageName } from '../../executor/kubernetes/agent-image/image.js';
import { loadKubeConfig } from '../../executor/kubernetes/client.js';
import { KubernetesExecutor } from '../../executor/kubernetes/kubernetes-executor.js';
import { AGENT_SECRET, runningAttempt } from '../helpers/agent.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { within } from '../helpers/wait.js';
import { clusterKubeconfig, withNamespace } from '../helpers/cluster.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * knit's real agent in real Pods: its image imported into the dev cluster
 * (scripts/build-agent-image.sh), knitd on the Pod gateway so the Pods reach it.
 */
const IMAGE = 'docker.io/knit-test/busybox:1';

let api: TestApi;
test.before(async () => {
  api = await startTestApi({ agentSecret: AGENT_SECRET, host: '10.88.0.1' });
});
test.after.always(async () => {
  await api?.close();
});

function executor(namespace: string): KubernetesExecutor {
  return new KubernetesExecutor({
    kubeConfig: loadKubeConfig(clusterKubeconfig()),
    namespace,
    instance: 'knit-test',
    agent: { image: agentImageName(), entrypoint: [...AGENT_ENTRYPOINT], url: api.url, token: (ctx) => mintAgentToken(AGENT_SECRET, { runId: ctx.runId, attempt: ctx.attempt }) },
    uploads: (ctx) => uploadsOf(api.db.pool, ctx.runId, ctx.attempt),
    store: api.store,
    pendingTimeoutMs: 30_000,
    isolation: { capAdd: [] },
    log: createLogger('test', 'silent'),
    uploadTimeoutMs: 90_000,
  });
}

/** A running attempt in knit's database, as the plan's image will see it: `script` run by sh. */
async function attemptRunning(inputs: Array<Record<string, string>>, outputs: number, script: string): Promise<AttemptContext> {
  const run = await runningAttempt(api, inputs, outputs);
  const begun = await withTx(api.db.pool, (tx) => beginAttempt(tx, run.runId));
  if (!begun.begun) throw new Error(begun.reason);
  return { ...begun.context, image: IMAGE, entrypoint: ['sh', '-c'], args: [script] };
}

async function stored(blobKey: string, file: string): Promise<string> {
  const dir = await tempDir('knit-k8s-out-');
  try {
    await extractArchive(await api.store.get(blobKey), dir.path);
    return await readFile(join(dir.path, file), 'utf8');
  } finally {
    await dir.cleanup();
  }
}

test('the agent fetches the inputs read-only into the run, and uploads its outputs after it ends', async (t) => {
  const ns = await withNamespace(t);
  const ex = executor(ns);
  const ctx = await attemptRunning([{ 'a.txt': 'alpha', 'sub/b.txt': 'beta' }], 1, 'cat /in/0/a.txt /in/0/sub/b.txt > /out/0/copy.txt; if touch /in/0/x 2>/dev/null; then echo writable; exit 9; fi');
  await ex.stage(ctx, () => {});
  await ex.create(ctx, () => {});
  await ex.start(ctx);
  t.deepEqual(await within(150_000, 'wait', ex.wait(ctx, AbortSignal.timeout(150_000))), { exitCode: 0 });
  const got = await within(120_000, 'collect', ex.collect(ctx, () => {}));
  t.deepEqual(got.problems, []);
  t.is(got.contents.length, 1);
  t.is(got.contents[0]!.dataId, ctx.outputs[0]!.dataId);
  t.is(await stored(got.contents[0]!.blobKey, 'copy.txt'), 'alphabeta');
  await within(70_000, 'release', ex.release(ctx));
});

test('stop signals the run through the sidecar, kills what ignores SIGTERM after the grace, and the outputs so far are kept', async (t) => {
  const ns = await withNamespace(t);
  const ex = executor(ns);
  const polite = await attemptRunning([{ 'a.txt': 'a' }], 1, "echo so-far > /out/0/partial.txt; trap 'exit 7' TERM; echo started; while :; do sleep 1; done");
  const stubborn = await attemptRunning([{ 'a.txt': 'a' }], 1, "trap '' TERM; echo started; while :; do sleep 1; done");
  for (const ctx of [polite, stubborn]) {
    await ex.create(ctx, () => {});
    await ex.start(ctx);
  }
  for (const ctx of [polite, stubborn]) {
    // Running, and its shell has set its trap once it said so.
    await within(150_000, 'the run to start', (async () => {
      for await (const batch of ex.logs(ctx, { follow: true, signal: AbortSignal.timeout(150_000) })) if (batch.some((l) => l.text === 'started')) return;
    })());
  }
  await within(60_000, 'stop', ex.stop(polite, 30));
  t.deepEqual(await within(60_000, 'wait', ex.wait(polite, AbortSignal.timeout(60_000))), { exitCode: 7 });
  const got = await within(120_000, 'collect', ex.collect(polite, () => {}));
  t.deepEqual(got.problems, []);
  t.is(await stored(got.contents[0]!.blobKey, 'partial.txt'), 'so-far\n');

  await within(60_000, 'stop', ex.stop(stubborn, 2));
  const end = await within(60_000, 'wait', ex.wait(stubborn, AbortSignal.timeout(60_000)));
  t.is(end.exitCode, 137, JSON.stringify(end));
  // Stopping what has ended is nothing to do.
  await ex.stop(stubborn, 2);
});
