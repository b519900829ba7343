import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { extractArchive } from '../../core/archive/extract.js';
import { LocalBlobStore } from '../../core/storage/local-store.js';
import { createLogger } from '../../core/log/logger.js';
import type { AttemptContext } from '../../core/run/model.js';
import { RunRefused, type LogLine } from '../../executor/executor.js';
import { loadKubeConfig } from '../../executor/kubernetes/client.js';
import type { AttemptUpload } from '../../core/run/uploads.js';
import { KubernetesExecutor, type KubernetesExecutorOptions } from '../../executor/kubernetes/kubernetes-executor.js';
import { OOM_NOTE } from '../../executor/kubernetes/pod-status.js';
import { within } from '../helpers/wait.js';
import { clusterKubeconfig, kubectl, withNamespace } from '../helpers/cluster.js';
import { tempDir } from '../helpers/tmp.js';

const IMAGE = 'docker.io/knit-test/busybox:1';

/**
 * These lifecycle tests need no knitd: the agent's commands are played by busybox. keep "fetches"
 * (or fails, for the token "refuse", with a termination message as the agent words it), then
 * waits for SIGTERM; ready tells whether keep is up. The Pod, the kubelet and the API server are
 * all real; the real agent is tested in contract.test.ts, kubernetes-agent.test.ts and test/k8s.
 */
const STAND_IN_AGENT = [
  'sh',
  '-c',
  [
    'case "$1" in',
    '  keep) if [ -n "$KNIT_INPUTS" ] && [ "$KNIT_AGENT_TOKEN" = refuse ]; then echo "keep: input 0: 403 the token is for another run" > /dev/termination-log; exit 1; fi',
    "        echo $$ > /tmp/knit-keep.pid; trap 'exit 0' TERM; while :; do sleep 1; done;;",
    '  ready) for i in $(seq 1 600); do test -s /tmp/knit-keep.pid && exit 0; sleep 0.1; done; exit 1;;',
    '  *) echo "the stand-in agent has no command $1" >&2; exit 2;;',
    'esac',
  ].join('\n'),
  'knit-agent',
];

let home: { path: string; cleanup: () => Promise<void> };
let store: LocalBlobStore;
test.before(async () => {
  home = await tempDir('knit-k8s-store-');
  store = new LocalBlobStore(join(home.path, 'storage'));
});
test.after.always(async () => {
  await home?.cleanup();
});

function executor(namespace: string, over: Partial<KubernetesExecutorOptions> = {}, uploads: AttemptUpload[] = []): KubernetesExecutor {
  return new KubernetesExecutor({
    store,
    kubeConfig: loadKubeConfig(clusterKubeconfig()),
    namespace,
    instance: 'knit-test',
    agent: { image: IMAGE, entrypoint: STAND_IN_AGENT, url: 'http://10.88.0.1:1', token: () => 'test-token' },
    uploads: async () => uploads,
    pendingTimeoutMs: 3000,
    isolation: { capAdd: [] },
    log: createLogger('test', 'silent'),
    uploadTimeoutMs: 60_000,
    ...over,
  });
}

function attempt(over: Partial<AttemptContext> & { annotations?: unknown } = {}): AttemptContext {
  return {
    runId: randomUUID(),
    attempt: 1,
    planId: randomUUID(),
    image: IMAGE,
    entrypoint: ['sh', '-c'],
    args: ['echo hello'],
    resources: {},
    onNode: { may: [], prefer: [], must: [] },
    serviceAccount: null,
    inputs: [{ idx: 0, path: '/in/1', dataId: randomUUID(), blobKey: 'k', digest: 'sha256:00', size: 0 }],
    outputs: [{ idx: 0, path: '/out/1', dataId: randomUUID() }],
    log: { dataId: randomUUID() },
    ...over,
  } as AttemptContext;
}

async function runToEnd(ex: KubernetesExecutor, ctx: AttemptContext, ms = 120_000) {
  await ex.stage(ctx, () => {});
  await ex.create(ctx, () => {});
  await ex.start(ctx);
  return within(ms, 'wait', ex.wait(ctx, AbortSignal.timeout(ms)));
}

async function refusal(t: ExecutionContext, p: Promise<unknown>): Promise<RunRefused> {
  const err = await t.throwsAsync(p);
  if (!(err instanceof RunRefused)) throw new Error(`expected a RunRefused, got ${err?.name}: ${err?.message}`);
  return err;
}

async function getPod(ns: string, name: string): Promise<any> {
  return JSON.parse(await kubectl(['get', '-n', ns, 'pod', name, '-o', 'json']));
}

test('create makes a gated Pod that is not scheduled; start runs it; the spec reads back as built', async (t) => {
  const ns = await withNamespace(t);
  const ex = executor(ns);
  const ctx = attempt({
    args: ['echo done'],
    resources: { cpu: '100m', memory: '64Mi' },
    onNode: { may: ['example.com/tainted=yes'], prefer: ['example.com/pool=none'], must: [] },
    annotations: { 'example.com/owner': 'team-a' },
  });
  t.deepEqual(await ex.state(ctx), { phase: 'absent' });
  await ex.stage(ctx, () => {});
  t.deepEqual(await ex.create(ctx, () => {}), { warnings: [] });
  // A retried activity finds its Pod.
  t.deepEqual(await ex.create(ctx, () => {}), { warnings: [] });
  t.deepEqual(await ex.state(ctx), { phase: 'created' });

  const pod = await getPod(ns, ex.podName(ctx));
  t.is(pod.spec.nodeName, undefined, 'a gated Pod is not scheduled');
  t.deepEqual(pod.spec.schedulingGates, [{ name: 'knit/start' }]);
  t.is(pod.metadata.labels['knit.run'], ctx.runId);
  t.is(pod.metadata.labels['knit.plan'], ctx.planId);
  t.is(pod.metadata.labels['knit.attempt'], '1');
  t.is(pod.metadata.annotations['example.com/owner'], 'team-a');
  const run = pod.spec.containers.find((c: any) => c.name === 'run');
  t.deepEqual(run.resources, { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '100m', memory: '64Mi' } });
  t.deepEqual(run.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  t.deepEqual(
    run.volumeMounts.filter((m: any) => !m.mountPath.startsWith('/var/run')),
    [
      { name: 'in0', mountPath: '/in/1', readOnly: true },
      { name: 'out0', mountPath: '/out/1' },
    ],
  );
  t.false(pod.spec.automountServiceAccountToken);
  t.deepEqual(
    pod.spec.tolerations.filter((x: any) => x.key.startsWith('example.com/')),
    [
      { key: 'example.com/pool', operator: 'Equal', value: 'none', effect: 'NoSchedule' },
      { key: 'example.com/pool', operator: 'Equal', value: 'none', effect: 'PreferNoSchedule' },
      { key: 'example.com/tainted', operator: 'Equal', value: 'yes', effect: 'NoSchedule' },
    ],
  );
  t.deepEqual(pod.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution, [{ weight: 1, preference: { matchExpressions: [{ key: 'example.com/pool', operator: 'In', values: ['none'] }] } }]);

  await ex.start(ctx);
  await ex.start(ctx);
  t.deepEqual(await within(120_000, 'wait', ex.wait(ctx, AbortSignal.timeout(120_000))), { exitCode: 0 });
  t.deepEqual(await ex.state(ctx), { phase: 'exited', exitCode: 0 });
});

test('a non-zero exit code is the run\'s; a command that cannot start is said', async (t) => {
  const ns = await withNamespace(t);
  const ex = executor(ns);
  t.deepEqual(await runToEnd(ex, attempt({ args: ['exit 3'] })), { exitCode: 3 });
  const missing = await runToEnd(ex, attempt({ entrypoint: ['/no/such/program'], args: null }));
  t.not(missing.exitCode, 0);
  t.regex(missing.note ?? '', /no\/such\/program|not found|no such file/i);
});

test('logs: timestamped lines, followed while the container runs, and from after a given line', async (t) => {
  const ns = await withNamespace(t);
  const ex = executor(ns);
  // Kubernetes merges stdout and stderr as the runtime wrote them: lines of the two streams close
  // together may swap, so they are a second apart here.
  const ctx = attempt({ args: ['echo one; sleep 1; echo two; sleep 1; echo three >&2; sleep 1; printf four'] });
  await ex.stage(ctx, () => {});
  await ex.create(ctx, () => {});
  const followed: LogLine[] = [];
  const follow = (async () => {
    for await (const batch of ex.logs(ctx, { follow: true, signal: AbortSignal.timeout(120_000) })) followed.push(...batch);
  })();
  await ex.start(ctx);
  t.deepEqual(await within(120_000, 'wait', ex.wait(ctx, AbortSignal.timeout(120_000))), { exitCode: 0 });
  await within(30_000, 'the followed log to end', follow);
  t.deepEqual(followed.map((l) => l.text), ['one', 'two', 'three', 'four']);
  for (const l of followed) {
    t.is(l.stream, 'stdout');
    t.regex(l.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
  }
  const all: LogLine[] = [];
  for await (const batch of ex.logs(ctx, { follow: false })) all.push(...batch);
  t.deepEqual(all, followed);
  const rest: LogLine[] = [];
  for await (const batch of ex.logs(ctx, { follow: false, after: followed[1]!.timestamp })) rest.push(...batch);
  t.deepEqual(rest.map((l) => l.text), ['three', 'four']);
});

test('a run over its memory limit is OOM killed and the note says so', async (t) => {
  const ns = await withNamespace(t);
  const ex = executor(ns);
  const end = await runToEnd(ex, attempt({ resources: { memory: '16Mi' }, args: ['head -c 100m /dev/zero | tail'] }));
  t.is(end.note, OOM_NOTE);
  t.not(end.exitCode, 0);
});

test('an image that is not in the cluster and cannot be pulled is refused', async (t) => {
  const ns = await withNamespace(t);
  const ex = executor(ns);
  const err = await refusal(t, runToEnd(ex, attempt({ image: 'docker.io/knit-test/does-not-exist:1' }), 180_000));
  t.is(err.reason, 'ImageUnavailable');
  t.regex(err.message, /image docker\.io\/knit-test\/does-not-exist:1 could not be pulled on node \S+: /);
});

test('a Pod no node can take is refused as unschedulable after the pending timeout, with the scheduler\'s message', async (t) => {
  const ns = await withNamespace(t);
  const ex = executor(ns, { pendingTimeoutMs: 2000 });
  const cpu = await refusal(t, runToEnd(ex, attempt({ resources: { cpu: '1000' } })));
  t.is(cpu.reason, 'Unschedulable');
  t.regex(cpu.message, /Insufficient cpu/);
  const must = await refusal(t, runToEnd(ex, attempt({ onNode: { may: [], prefer: [], must: ['example.com/no-such-node=1'] } })));
  t.is(must.reason, 'Unschedulable');
  t.regex(must.message, /affinity|selector/i);
});

test('a value the API server rejects is refused at create, naming the field', async (t) => {
  const ns = await withNamespace(t);
  const ex = executor(ns);
  // Valid on its own, refused by the API server's validation of the whole Pod.
  const err = await refusal(t, ex.create(attempt({ resources: { 'hugepages-2Mi': '2Mi' } }), () => {}));
  t.is(err.reason, 'PodInvalid');
  t.regex(err.message, /spec\.containers\[0\]\.resources/);
  t.deepEqual(await ex.state(attempt()), { phase: 'absent' });
  const staged = await refusal(t, ex.stage(attempt({ resources: { disk: '1Gi', cpu: '1.2.3' } }), () => {}));
  t.is(staged.reason, 'PodInvalid');
  t.regex(staged.message, /resources\.disk: .*; resources\.cpu: must be a quantity/);
  const sa = await refusal(t, ex.stage(attempt({ serviceAccount: 'nobody' }), () => {}));
  t.is(sa.reason, 'ServiceAccountMissing');
});

test('a plan\'s service account is the Pod\'s, with its token mounted', async (t) => {
  const ns = await withNamespace(t);
  await kubectl(['create', 'serviceaccount', '-n', ns, 'trainer']);
  const ex = executor(ns);
  const ctx = attempt({ serviceAccount: 'trainer', args: ['test -s /var/run/secrets/kubernetes.io/serviceaccount/token'] });
  t.deepEqual(await runToEnd(ex, ctx), { exitCode: 0 });
  const pod = await getPod(ns, ex.podName(ctx));
  t.is(pod.spec.serviceAccountName, 'trainer');
  t.true(pod.spec.automountServiceAccountToken);
});

test('a failing fetch refuses the run with the agent\'s termination message', async (t) => {
  const ns = await withNamespace(t);
  const ex = executor(ns, { agent: { image: IMAGE, entrypoint: STAND_IN_AGENT, url: 'http://10.88.0.1:1', token: () => 'refuse' } });
  const err = await refusal(t, runToEnd(ex, attempt()));
  t.is(err.reason, 'InputsUnavailable');
  t.regex(err.message, /403 the token is for another run/);
});

test('collect takes the uploads once the sidecar ended; a missing one is a problem naming the output', async (t) => {
  const ns = await withNamespace(t);
  const c = randomUUID();
  const ctx = attempt({ outputs: [{ idx: 0, path: '/out/a', dataId: 'a' }, { idx: 1, path: '/out/b', dataId: 'b' }, { idx: 2, path: '/out/c', dataId: c }] });
  const ex = executor(ns, {}, [
    { idx: 0, dataId: 'a', size: 10, digest: 'sha256:aa', blobKey: 'data/a', problem: null },
    { idx: 1, dataId: 'b', size: 0, digest: 'sha256:bb', blobKey: 'data/b', problem: 'output /out/b was not stored: a symlink points out' },
  ]);
  t.deepEqual(await runToEnd(ex, ctx), { exitCode: 0 });
  let beats = 0;
  const got = await within(90_000, 'collect', ex.collect(ctx, () => beats++));
  t.deepEqual(got.contents.slice(0, 2), [
    { dataId: 'a', size: 10, digest: 'sha256:aa', blobKey: 'data/a' },
    { dataId: 'b', size: 0, digest: 'sha256:bb', blobKey: 'data/b' },
  ]);
  // The output that never came is stored empty, so the attempt can finish (failed, with the reason).
  const empty = got.contents[2]!;
  t.is(empty.dataId, c);
  const dir = await tempDir('knit-k8s-empty-');
  t.teardown(() => dir.cleanup());
  await extractArchive(await store.get(empty.blobKey), dir.path);
  t.deepEqual(await readdir(dir.path), []);
  t.is(got.problems.length, 2);
  t.is(got.problems[0], 'output /out/b was not stored: a symlink points out');
  t.regex(got.problems[1]!, /^output \/out\/c was not uploaded: knit's agent sidecar: it ended with exit code 0/);
});

test('leftovers lists the instance\'s Pods; release removes one and waits until it is gone', async (t) => {
  const ns = await withNamespace(t);
  const ex = executor(ns);
  const other = executor(ns, { instance: 'someone-else' });
  const a = attempt();
  const b = attempt({ attempt: 3 });
  await ex.create(a, () => {});
  await ex.create(b, () => {});
  await other.create(attempt(), () => {});
  const found = [];
  for await (const l of ex.leftovers()) found.push(l);
  t.deepEqual(found.map((l) => `${l.runId}/${l.attempt}`).sort(), [`${a.runId}/1`, `${b.runId}/3`].sort());
  await within(70_000, 'release', ex.release(a));
  t.deepEqual(await ex.state(a), { phase: 'absent' });
  await within(70_000, 'release again', ex.release(a));
  await found.find((l) => l.runId === b.runId)!.remove();
  const left = [];
  for await (const l of ex.leftovers()) left.push(l);
  // remove() does not wait; a Pod being deleted may still be listed for a moment.
  t.true(left.every((l) => l.runId === b.runId));
});

test('stop before the run started deletes the Pod; a wait ends promptly on abort and on a deleted Pod', async (t) => {
  const ns = await withNamespace(t);
  const ex = executor(ns);
  const gated = attempt();
  await ex.create(gated, () => {});
  await ex.stop(gated, 5);
  await within(30_000, 'the stopped Pod to go', (async () => {
    while ((await ex.state(gated)).phase !== 'absent') await new Promise((r) => setTimeout(r, 300));
  })());

  const long = attempt({ args: ['echo started; sleep 600'] });
  await ex.create(long, () => {});
  await ex.start(long);
  // A followed log ends quietly when its signal aborts, mid-stream.
  const stopFollowing = new AbortController();
  const seen: string[] = [];
  await within(60_000, 'an aborted follow', (async () => {
    for await (const batch of ex.logs(long, { follow: true, signal: stopFollowing.signal })) {
      seen.push(...batch.map((l) => l.text));
      stopFollowing.abort();
    }
  })());
  t.deepEqual(seen, ['started']);
  const abort = new AbortController();
  const waiting = ex.wait(long, abort.signal);
  setTimeout(() => abort.abort(new Error('test abort')), 1000);
  const aborted = await t.throwsAsync(within(10_000, 'an aborted wait', waiting));
  t.is(aborted?.message, 'test abort');

  const gone = ex.wait(long, AbortSignal.timeout(120_000));
  await kubectl(['delete', '-n', ns, 'pod', ex.podName(long), '--grace-period=0', '--force']);
  const err = await refusal(t, within(60_000, 'a wait on a deleted Pod', gone));
  t.is(err.reason, 'PodGone');
});
