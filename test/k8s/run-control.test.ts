import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { podName } from '../../executor/kubernetes/pod-spec.js';
import { runKnit } from '../helpers/cli.js';
import { kubectl, withNamespace } from '../helpers/cluster.js';
import { TestStack, terminal } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/** Run, stop, follow and crash a knit whose runs are Pods, through its API and CLI, as a user would. */
let s: TestStack;
let ns: string;
const teardowns: Array<() => Promise<void>> = [];
test.before(async () => {
  ns = await withNamespace({ teardown: (fn) => void teardowns.push(fn) });
  s = await TestStack.start({ kubernetes: { namespace: ns } });
});
test.after.always(async () => {
  await s?.close();
  for (const fn of teardowns) await fn();
});

async function podsOf(runId: string): Promise<string[]> {
  const out = await kubectl(['get', 'pods', '-n', ns, '-l', `knit.run=${runId}`, '-o', 'name']);
  return out.split('\n').filter((l) => l.trim() !== '');
}

/** Every Pod the cluster ever scheduled for a run's first attempt, by uid, as its event log tells (Pods are deleted when a run ends). */
async function podUidsEverOf(runId: string): Promise<Set<string>> {
  const events = JSON.parse(await kubectl(['get', 'events', '-n', ns, '-o', 'json'])) as { items: Array<{ reason: string; involvedObject: { kind: string; name: string; uid: string } }> };
  const name = podName(s.instance, runId, 1);
  return new Set(events.items.filter((e) => e.involvedObject.kind === 'Pod' && e.reason === 'Scheduled' && e.involvedObject.name === name).map((e) => e.involvedObject.uid));
}

async function output(dataId: string, file: string): Promise<string> {
  const dir = await tempDir('knit-k8s-out-');
  try {
    return await readFile(join((await s.client.pullData(dataId, dir.path, { extract: true })).path, file), 'utf8');
  } finally {
    await dir.cleanup();
  }
}

test.serial('knit run stop ends a running Pod: SIGTERM reaches the command, what it wrote is kept, the run is done and the Pod gone', async (t) => {
  const p = await s.plan({
    script: 'echo partial > /out/o/partial; trap "echo stopped > /out/o/trap; exit 0" TERM; echo waiting; while :; do sleep 1; done',
    inputs: [{ path: '/in', tags: ['k8s-stop:in'] }],
    outputs: [{ path: '/out/o', tags: ['k8s-stop:out'] }],
  });
  await s.push({ a: '1' }, ['k8s-stop:in']);
  const [run] = await s.waitRuns('the Pod to run', (rs) => rs[0]?.status === 'running', { plans: [p.id] }, 120_000);
  await waitFor('the command to set its trap', async () => {
    const log = await runKnit(['run', 'log', run!.id], { env: { KNIT_SERVER: s.url } });
    return log.stdout.includes('waiting');
  }, 60_000);
  const stopped = await runKnit(['run', 'stop', run!.id], { env: { KNIT_SERVER: s.url } });
  t.is(stopped.code, 0, stopped.stderr);
  const done = await s.client.waitRun(run!.id, { timeoutMs: 120_000 });
  t.is(done.status, 'done');
  t.is(done.message, 'stopped by user');
  t.is(await output(done.outputs[0]!.dataId!, 'partial'), 'partial\n');
  t.is(await output(done.outputs[0]!.dataId!, 'trap'), 'stopped\n');
  await waitFor('the Pod to be removed', async () => (await podsOf(run!.id)).length === 0, 60_000);
});

test.serial('knit run log -f follows a Pod as it writes, as on Docker', async (t) => {
  const p = await s.plan({ script: 'for i in 1 2 3; do echo line-$i; sleep 1; done', inputs: [{ path: '/in', tags: ['k8s-log:in'] }] });
  await s.push({ a: '1' }, ['k8s-log:in']);
  const [run] = await s.waitRuns('the Pod to start', (rs) => rs.length === 1 && ['running', 'completing', 'done'].includes(rs[0]!.status), { plans: [p.id] }, 120_000);
  const followed = await runKnit(['run', 'log', '-f', run!.id], { env: { KNIT_SERVER: s.url } });
  t.is(followed.code, 0, followed.stderr);
  t.deepEqual(
    followed.stdout.trim().split('\n').filter((l) => / stdout /.test(l)).map((l) => l.replace(/^\S+ /, '')),
    ['stdout line-1', 'stdout line-2', 'stdout line-3'],
  );
  t.is((await s.client.waitRun(run!.id)).status, 'done');
});

test.serial('a worker SIGKILLed while its Pod runs is replaced: the run completes exactly once, from one Pod', async (t) => {
  const p = await s.plan({
    script: 'echo started; sleep 6; cat /in/a > /out/o/result; echo finished',
    inputs: [{ path: '/in', tags: ['k8s-crash:in'] }],
    outputs: [{ path: '/out/o', tags: ['k8s-crash:out'] }],
  });
  await s.push({ a: 'payload\n' }, ['k8s-crash:in']);
  const [running] = await s.waitRuns('the Pod to run', (rs) => rs[0]?.status === 'running', { plans: [p.id] }, 120_000);
  await s.killWorker();
  await s.startWorker();
  const [run] = await s.waitRuns('the run to end', (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [p.id] }, 180_000);
  t.is(run!.id, running!.id);
  t.is(run!.status, 'done', `${run!.message}\n${s.workerLog.slice(-3000)}`);
  t.is(run!.attempt, 1);
  t.is(await output(run!.outputs[0]!.dataId!, 'result'), 'payload\n');
  t.is((await s.runs({ plans: [p.id] })).length, 1, 'one run, never two');
  t.is((await podUidsEverOf(run!.id)).size, 1, 'one Pod ever scheduled');
  await waitFor('the Pod to be removed', async () => (await podsOf(run!.id)).length === 0, 60_000);
});

test.serial('a plan\'s resources, on_node and annotations are on its Pod, as the API server reads it back', async (t) => {
  const applied = await s.client.applyPlan({
    image: 'knit-test/busybox:1',
    entrypoint: ['sh', '-c'],
    args: ['echo up; sleep 600'],
    inputs: [{ path: '/in', tags: ['k8s-fields:in'] }],
    outputs: [],
    resources: { cpu: '100m', memory: '32Mi' },
    on_node: { may: ['example.com/spot=yes'], prefer: [], must: [] },
    annotations: ['example.com/owner=team-a', 'example.com/note=a=b'],
  });
  await s.push({ a: '1' }, ['k8s-fields:in']);
  const [run] = await s.waitRuns('the Pod to run', (rs) => rs[0]?.status === 'running', { plans: [applied.plan!.id] }, 120_000);
  const pod = JSON.parse(await kubectl(['get', 'pod', '-n', ns, podName(s.instance, run!.id, 1), '-o', 'json'])) as {
    metadata: { annotations: Record<string, string> };
    spec: { containers: Array<{ name: string; resources: unknown }>; tolerations: Array<{ key: string; value?: string; effect?: string }>; automountServiceAccountToken: boolean };
  };
  t.is(pod.metadata.annotations['example.com/owner'], 'team-a');
  t.is(pod.metadata.annotations['example.com/note'], 'a=b');
  t.deepEqual(pod.spec.containers.find((c) => c.name === 'run')!.resources, { requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu: '100m', memory: '32Mi' } });
  t.true(pod.spec.tolerations.some((x) => x.key === 'example.com/spot' && x.value === 'yes' && x.effect === 'NoSchedule'));
  t.false(pod.spec.automountServiceAccountToken, 'no service account token without a service_account');
  await s.client.stopRun(run!.id);
  const ended = await s.client.waitRun(run!.id, { timeoutMs: 120_000 });
  t.is(ended.status, 'done', ended.message ?? '');
});

test.serial('a stop that comes while the Pod is still starting ends the run done, "stopped by user", and leaves no Pod', async (t) => {
  const p = await s.plan({ script: 'echo up; sleep 600', inputs: [{ path: '/in', tags: ['k8s-early:in'] }], outputs: [{ path: '/out/o', tags: ['k8s-early:out'] }] });
  await s.push({ a: '1' }, ['k8s-early:in']);
  // As soon as knit says running: the gate is off, but the Pod may still be scheduling or fetching.
  const [run] = await s.waitRuns('the run to be started', (rs) => rs[0]?.status === 'running', { plans: [p.id] }, 120_000);
  await s.client.stopRun(run!.id);
  const ended = await s.client.waitRun(run!.id, { timeoutMs: 120_000 });
  t.is(ended.status, 'done', ended.message ?? '');
  t.is(ended.message, 'stopped by user');
  await waitFor('the Pod to be removed', async () => (await podsOf(run!.id)).length === 0, 60_000);
});
