import test from 'ava';
import type { AttemptContext } from '../../core/run/model.js';
import { CONTAINER, podName, podProblems, podSpec, START_GATE, type PodSpecOptions } from '../../executor/kubernetes/pod-spec.js';

const RUN = '0b6f3c1e-8d2a-4f6e-9a41-5c7d2e9f1a30';
const PLAN = '7e1d2c3b-4a59-4b68-8c7d-6e5f4a3b2c1d';

function ctx(over: Partial<AttemptContext> & { annotations?: unknown } = {}): AttemptContext {
  return {
    runId: RUN,
    attempt: 2,
    planId: PLAN,
    image: 'example.com/train:1.0',
    entrypoint: ['python', 'train.py'],
    args: ['--epochs', '3'],
    resources: {},
    onNode: { may: [], prefer: [], must: [] },
    serviceAccount: null,
    inputs: [
      { idx: 0, path: '/in/data', dataId: 'd0', blobKey: 'k0', digest: 'sha256:00', size: 1 },
      { idx: 1, path: '/in/model', dataId: 'd1', blobKey: 'k1', digest: 'sha256:11', size: 2 },
    ],
    outputs: [{ idx: 0, path: '/out/model', dataId: 'o0' }],
    log: { dataId: 'log' },
    ...over,
  } as AttemptContext;
}

const opts: PodSpecOptions = {
  namespace: 'knit-runs',
  instance: 'knit',
  agent: { image: 'localhost/knit-agent:0.1.0', entrypoint: ['/usr/local/bin/node', '/knit/agent/main.js'], url: 'http://10.88.0.1:7420', token: 'tok' },
  gpuResource: 'nvidia.com/gpu',
  capAdd: [],
};

const env = (c: { env?: Array<{ name: string; value?: string }> }) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));

test('the Pod is gated, never restarted, shares its process namespace and has a long grace period', (t) => {
  const pod = podSpec(ctx(), opts);
  t.is(pod.metadata?.name, `knit-run-${RUN}-a2`);
  t.is(pod.metadata?.namespace, 'knit-runs');
  t.deepEqual(pod.metadata?.labels, { 'knit.instance': 'knit', 'knit.run': RUN, 'knit.plan': PLAN, 'knit.attempt': '2', 'knit.network': 'false' });
  t.is(podSpec(ctx({ network: true }), opts).metadata?.labels?.['knit.network'], 'true');
  t.deepEqual(pod.spec?.schedulingGates, [{ name: START_GATE }]);
  t.is(pod.spec?.restartPolicy, 'Never');
  t.true(pod.spec?.shareProcessNamespace);
  t.true((pod.spec?.terminationGracePeriodSeconds ?? 0) >= 600);
  t.false(pod.spec?.automountServiceAccountToken);
  t.is(pod.spec?.serviceAccountName, undefined);
});

test('one emptyDir per input and output; one agent sidecar fetches the inputs and keeps the outputs, run mounts inputs read-only', (t) => {
  const pod = podSpec(ctx(), opts);
  t.deepEqual(pod.spec?.volumes, [
    { name: 'in0', emptyDir: {} },
    { name: 'in1', emptyDir: {} },
    { name: 'out0', emptyDir: {} },
  ]);
  t.is(pod.spec!.initContainers!.length, 1, 'one agent container: each container in sequence costs a kubelet sync');
  const [keep] = pod.spec!.initContainers!;
  t.is(keep!.name, CONTAINER.keep);
  t.is(keep!.image, opts.agent.image);
  t.is(keep!.imagePullPolicy, 'IfNotPresent');
  t.is(keep!.restartPolicy, 'Always');
  t.deepEqual(keep!.command, [...opts.agent.entrypoint, 'keep']);
  t.deepEqual(keep!.lifecycle?.postStart?.exec?.command, [...opts.agent.entrypoint, 'ready', '--wait', '86400']);
  t.deepEqual(env(keep!), {
    KNIT_AGENT_URL: 'http://10.88.0.1:7420',
    KNIT_AGENT_TOKEN: 'tok',
    KNIT_RUN: RUN,
    KNIT_ATTEMPT: '2',
    KNIT_INPUTS: JSON.stringify([
      { idx: 0, dir: '/knit/in0' },
      { idx: 1, dir: '/knit/in1' },
    ]),
    KNIT_OUTPUTS: JSON.stringify([{ idx: 0, dir: '/knit/out0' }]),
  });
  t.deepEqual(keep!.volumeMounts, [
    { name: 'in0', mountPath: '/knit/in0' },
    { name: 'in1', mountPath: '/knit/in1' },
    { name: 'out0', mountPath: '/knit/out0' },
  ]);
  // The agent runs as root with the default capabilities: it must read any user's files and signal them.
  t.is(keep!.securityContext?.runAsUser, 0);
  t.is(keep!.securityContext?.capabilities, undefined);

  const [run] = pod.spec!.containers;
  t.is(run!.name, CONTAINER.run);
  t.is(run!.image, 'example.com/train:1.0');
  t.is(run!.imagePullPolicy, 'IfNotPresent');
  t.deepEqual(run!.command, ['python', 'train.py']);
  t.deepEqual(run!.args, ['--epochs', '3']);
  t.deepEqual(run!.volumeMounts, [
    { name: 'in0', mountPath: '/in/data', readOnly: true },
    { name: 'in1', mountPath: '/in/model', readOnly: true },
    { name: 'out0', mountPath: '/out/model' },
  ]);
  t.is(run!.env, undefined, 'the run sees none of the agent token');
});

test('no inputs: the sidecar has nothing to fetch; null entrypoint and args leave the image defaults', (t) => {
  const pod = podSpec(ctx({ inputs: [], entrypoint: null, args: null }), opts);
  t.deepEqual(pod.spec!.initContainers!.map((c) => c.name), [CONTAINER.keep]);
  t.false(pod.spec!.initContainers![0]!.env!.some((e) => e.name === 'KNIT_INPUTS'));
  const run = pod.spec!.containers[0]!;
  t.false('command' in run);
  t.false('args' in run);
});

test('the run drops every capability, adds only the configured ones, and cannot escalate', (t) => {
  t.deepEqual(podSpec(ctx(), opts).spec!.containers[0]!.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  t.deepEqual(podSpec(ctx(), { ...opts, capAdd: ['CHOWN', 'SETUID'] }).spec!.containers[0]!.securityContext, {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'], add: ['CHOWN', 'SETUID'] },
  });
});

test('resources become equal requests and limits; GPUs become a limit on the configured resource name', (t) => {
  t.is(podSpec(ctx(), opts).spec!.containers[0]!.resources, undefined);
  const r = podSpec(ctx({ resources: { cpu: '500m', memory: '1Gi', 'ephemeral-storage': '2Gi', gpu: '1' } }), opts).spec!.containers[0]!.resources;
  t.deepEqual(r, {
    requests: { cpu: '500m', memory: '1Gi', 'ephemeral-storage': '2Gi' },
    limits: { cpu: '500m', memory: '1Gi', 'ephemeral-storage': '2Gi', 'nvidia.com/gpu': '1' },
  });
  const amd = podSpec(ctx({ resources: { 'nvidia.com/gpu': '2' } }), { ...opts, gpuResource: 'amd.com/gpu' }).spec!.containers[0]!.resources;
  t.deepEqual(amd, { limits: { 'amd.com/gpu': '2' } });
  const both = podSpec(ctx({ resources: { gpu: '1', 'nvidia.com/gpu': '2' } }), opts).spec!.containers[0]!.resources;
  t.deepEqual(both, { limits: { 'nvidia.com/gpu': '3' } });
});

test('on_node: may tolerates, prefer tolerates and prefers, must tolerates and requires', (t) => {
  const may = podSpec(ctx({ onNode: { may: ['accel=gpu'], prefer: [], must: [] } }), opts).spec!;
  t.deepEqual(may.tolerations, [{ key: 'accel', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }]);
  t.is(may.affinity, undefined);

  const prefer = podSpec(ctx({ onNode: { may: [], prefer: ['zone=a'], must: [] } }), opts).spec!;
  t.deepEqual(prefer.tolerations, [
    { key: 'zone', operator: 'Equal', value: 'a', effect: 'NoSchedule' },
    { key: 'zone', operator: 'Equal', value: 'a', effect: 'PreferNoSchedule' },
  ]);
  t.deepEqual(prefer.affinity, { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } }] } });

  const must = podSpec(ctx({ onNode: { may: [], prefer: [], must: ['example.com/pool=big', 'example.com/pool=huge', 'disk=ssd'] } }), opts).spec!;
  t.is(must.tolerations?.length, 6);
  t.deepEqual(must.affinity, {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          {
            matchExpressions: [
              { key: 'disk', operator: 'In', values: ['ssd'] },
              // Two values of one key: either will do.
              { key: 'example.com/pool', operator: 'In', values: ['big', 'huge'] },
            ],
          },
        ],
      },
    },
  });

  // A value may hold '=', as the plan spec allows; the same label twice is tolerated once.
  const eq = podSpec(ctx({ onNode: { may: ['k=a=b', 'k=a=b'], prefer: [], must: [] } }), opts).spec!;
  t.deepEqual(eq.tolerations, [{ key: 'k', operator: 'Equal', value: 'a=b', effect: 'NoSchedule' }]);
});

test('a service account is named and its token mounted only when the plan names one', (t) => {
  const spec = podSpec(ctx({ serviceAccount: 'trainer' }), opts).spec!;
  t.is(spec.serviceAccountName, 'trainer');
  t.true(spec.automountServiceAccountToken);
});

test('annotations from the attempt become the Pod\'s', (t) => {
  t.is(podSpec(ctx(), opts).metadata?.annotations, undefined);
  t.deepEqual(podSpec(ctx({ annotations: { 'example.com/owner': 'team-a', note: 'x=y' } }), opts).metadata?.annotations, { 'example.com/owner': 'team-a', note: 'x=y' });
});

test('the Pod name is a DNS label of at most 63 characters, deterministic and distinct per attempt', (t) => {
  t.is(podName('knit', RUN, 1), `knit-run-${RUN}-a1`);
  const long = 'a'.repeat(40);
  const n1 = podName(long, RUN, 1);
  const n2 = podName(long, RUN, 2);
  for (const n of [n1, n2]) {
    t.true(n.length <= 63, n);
    t.regex(n, /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
  }
  t.not(n1, n2);
  t.is(podName(long, RUN, 1), n1);
  t.true(n1.startsWith(`${long}-run-`));
  t.is(podSpec(ctx(), { ...opts, instance: long }).metadata?.name, podName(long, RUN, 2));
});

test('what Kubernetes would refuse is found before the Pod is made, naming the plan field', (t) => {
  t.deepEqual(podProblems(ctx({ resources: { cpu: '1', memory: '1Gi', gpu: '1', 'example.com/fpga': '2' }, onNode: { may: ['a=b'], prefer: ['example.com/x=y'], must: ['k='] } })), []);
  const problems = podProblems(
    ctx({
      resources: { disk: '1Gi', 'example.com/fpga': '0.5', memory: 'lots' },
      onNode: { may: ['bad key=v'], prefer: [], must: ['k=not ok'] },
      serviceAccount: 'Not_Valid',
      annotations: { 'bad key': 'v' },
    }),
  );
  t.is(problems.length, 7, problems.join('\n'));
  t.regex(problems[0]!, /^resources\.disk: /);
  t.regex(problems[1]!, /^resources\.example\.com\/fpga: .*whole number/);
  t.regex(problems[2]!, /^resources\.memory: must be a quantity/);
  t.regex(problems[3]!, /^on_node\.may "bad key=v"/);
  t.regex(problems[4]!, /^on_node\.must "k=not ok"/);
  t.regex(problems[5]!, /^annotations "bad key"/);
  t.regex(problems[6]!, /^service_account "Not_Valid"/);
});

test('the before hooks\' env is set in the run container only; without it the run container has no env', (t) => {
  const pod = podSpec(ctx({ env: { FOO: 'bar', BAR: 'one' } }), opts);
  const run = pod.spec!.containers[0]!;
  t.deepEqual(env(run), { FOO: 'bar', BAR: 'one' });
  for (const c of pod.spec!.initContainers ?? []) t.false('FOO' in env(c));
  t.is(podSpec(ctx(), opts).spec!.containers[0]!.env, undefined);
});
