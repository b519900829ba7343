import test from 'ava';
import { kubectl, withNamespace } from '../helpers/cluster.js';

const IMAGE = 'knit-test/busybox:1';

function pod(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { restartPolicy: 'Never', ...spec } });
}

// The dev cluster is real: a Pod is scheduled, runs in a container with its limits applied, and
// its log is read back through the API server (which dials the kubelet).
test('a Pod runs to Succeeded with its memory limit applied, and its log is readable', async (t) => {
  const ns = await withNamespace(t);
  await kubectl(['apply', '-n', ns, '-f', '-'], pod('hello', {
    containers: [{
      name: 'main',
      image: IMAGE,
      imagePullPolicy: 'Never',
      command: ['sh', '-c', 'echo hello-from-pod; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'],
      resources: { limits: { memory: '64Mi', cpu: '500m' } },
    }],
  }));
  await kubectl(['wait', '-n', ns, '--for=jsonpath={.status.phase}=Succeeded', 'pod/hello', '--timeout=120s']);
  const log = await kubectl(['logs', '-n', ns, 'hello']);
  t.regex(log, /hello-from-pod/);
  t.regex(log, /\b67108864\b/);
});

test('a Pod whose image is not on the node says so in its waiting reason', async (t) => {
  const ns = await withNamespace(t);
  await kubectl(['apply', '-n', ns, '-f', '-'], pod('missing', {
    containers: [{ name: 'main', image: 'knit-test/does-not-exist:1', imagePullPolicy: 'Never' }],
  }));
  let reason = '';
  for (let i = 0; i < 120 && reason === ''; i++) {
    reason = await kubectl(['get', '-n', ns, 'pod/missing', '-o', 'jsonpath={.status.containerStatuses[0].state.waiting.reason}']);
    if (reason === '' || reason === 'ContainerCreating') {
      reason = '';
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  t.is(reason, 'ErrImageNeverPull');
});
