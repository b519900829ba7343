import test from 'ava';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { extractArchive } from '../../core/archive/extract.js';
import { uploadsOf } from '../../core/run/uploads.js';
import { AGENT_ENTRYPOINT, AGENT_IMAGE_ENV, agentImageName } from '../../executor/kubernetes/agent-image/image.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { AGENT_SECRET, runningAttempt, type RunningAttempt } from '../helpers/agent.js';
import { clusterKubeconfig, kubectl, withNamespace } from '../helpers/cluster.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** Where Pods reach the host (k8s/dev-cluster: the pod bridge's gateway). */
const GATEWAY = process.env['KNIT_TEST_POD_GATEWAY'] ?? '10.88.0.1';
const IMAGE = agentImageName();

let api: TestApi;
test.before(async () => {
  clusterKubeconfig();
  // The agent image, built from this tree and imported into the cluster's containerd (idempotent).
  const out = await tempDir('knit-agent-rootfs-');
  try {
    const rootfs = join(out.path, 'rootfs');
    await run('bash', [join(REPO, 'executor/kubernetes/agent-image/build.sh'), rootfs], { timeout: 120_000 });
    await run('bash', [join(REPO, 'k8s/dev-cluster/import-image.sh'), IMAGE, rootfs, '--entrypoint', JSON.stringify(AGENT_ENTRYPOINT), ...AGENT_IMAGE_ENV.flatMap((e) => ['--env', e])], { timeout: 300_000 });
  } finally {
    await out.cleanup();
  }
  api = await startTestApi({ agentSecret: AGENT_SECRET, host: GATEWAY });
});
test.after.always(async () => {
  await api?.close();
});

function agentEnv(r: RunningAttempt, extra: Record<string, string>) {
  return Object.entries({
    KNIT_AGENT_URL: api.url,
    KNIT_AGENT_TOKEN: r.token,
    KNIT_RUN: r.runId,
    KNIT_ATTEMPT: String(r.attempt),
    ...extra,
  }).map(([name, value]) => ({ name, value }));
}

/** The Pod layout of executor/DESIGN.md: fetch init container, keep sidecar, the user's container. */
function podOf(name: string, r: RunningAttempt, script: string) {
  const inputs = r.inputs.map((_, idx) => ({ idx, dir: `/knit/in${idx}` }));
  const outputs = r.outputs.map((o) => ({ idx: o.idx, dir: `/knit/out${o.idx}` }));
  const volumes = [...inputs.map((i) => ({ name: `in${i.idx}`, emptyDir: {} })), ...outputs.map((o) => ({ name: `out${o.idx}`, emptyDir: {} }))];
  const inMounts = (readOnly: boolean) => inputs.map((i) => ({ name: `in${i.idx}`, mountPath: i.dir, readOnly }));
  const outMounts = outputs.map((o) => ({ name: `out${o.idx}`, mountPath: o.dir }));
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      shareProcessNamespace: true,
      terminationGracePeriodSeconds: 60,
      volumes,
      initContainers: [
        {
          name: 'fetch',
          image: IMAGE,
          imagePullPolicy: 'Never',
          command: [...AGENT_ENTRYPOINT, 'fetch'],
          env: agentEnv(r, { KNIT_INPUTS: JSON.stringify(inputs), KNIT_AGENT_BACKOFF_MS: '200' }),
          volumeMounts: inMounts(false),
        },
        {
          name: 'keep',
          image: IMAGE,
          imagePullPolicy: 'Never',
          restartPolicy: 'Always',
          command: [...AGENT_ENTRYPOINT, 'keep'],
          env: agentEnv(r, { KNIT_OUTPUTS: JSON.stringify(outputs), KNIT_AGENT_BACKOFF_MS: '200' }),
          lifecycle: { postStart: { exec: { command: [...AGENT_ENTRYPOINT, 'ready', '--wait', '60'] } } },
          volumeMounts: outMounts,
        },
      ],
      containers: [
        {
          name: 'main',
          image: 'knit-test/busybox:1',
          imagePullPolicy: 'Never',
          command: ['sh', '-c', script],
          volumeMounts: [...inMounts(true), ...outMounts],
        },
      ],
    },
  });
}

async function podJson(ns: string, name: string): Promise<{ status: { phase: string; containerStatuses?: Array<{ name: string; state: { terminated?: { exitCode: number } } }>; initContainerStatuses?: Array<{ name: string; state: { terminated?: { exitCode: number; message?: string } } }> } }> {
  return JSON.parse(await kubectl(['get', '-n', ns, 'pod', name, '-o', 'json'])) as never;
}

/**
 * Waits for the sidecar to end. The Pod's phase turns Failed (or Succeeded) as soon as the user's
 * container ends, before the sidecar has had its SIGTERM and uploaded: whoever collects the
 * outputs must wait for the sidecar itself.
 */
async function keepEnded(ns: string, name: string): Promise<void> {
  await kubectl(['wait', '-n', ns, '--for=jsonpath={.status.initContainerStatuses[?(@.name=="keep")].state.terminated.reason}=Completed', `pod/${name}`, '--timeout=120s']);
}

async function contentOf(blobKey: string, file: string): Promise<string> {
  const dir = await tempDir('knit-agent-check-');
  try {
    await extractArchive(await api.store.get(blobKey), dir.path);
    return await readFile(join(dir.path, file), 'utf8');
  } finally {
    await dir.cleanup();
  }
}

test('in a real Pod, the init container fetches the inputs and the sidecar uploads the outputs when the user\'s container ends', async (t) => {
  const ns = await withNamespace(t);
  const r = await runningAttempt(api, [{ 'greeting.txt': 'hello from knitd' }], 1);
  await kubectl(['apply', '-n', ns, '-f', '-'], podOf('run', r, 'set -e; tr a-z A-Z < /knit/in0/greeting.txt > /knit/out0/shout.txt; ! touch /knit/in0/x 2>/dev/null'));
  await kubectl(['wait', '-n', ns, '--for=jsonpath={.status.phase}=Succeeded', 'pod/run', '--timeout=180s']).catch(async (err: Error) => {
    t.log(await kubectl(['describe', '-n', ns, 'pod/run']).catch(() => ''));
    t.log(await kubectl(['logs', '-n', ns, 'run', '--all-containers']).catch(() => ''));
    throw err;
  });
  await keepEnded(ns, 'run');
  const [u] = await uploadsOf(api.db.pool, r.runId, 1);
  t.truthy(u, 'the sidecar recorded no upload');
  t.is(u!.problem, null);
  t.is(await contentOf(u!.blobKey, 'shout.txt'), 'HELLO FROM KNITD');
  const pod = await podJson(ns, 'run');
  t.is(pod.status.initContainerStatuses?.find((c) => c.name === 'keep')?.state.terminated?.exitCode, 0);
});

test('stop, exec\'d in the sidecar, ends the user\'s processes and the outputs written so far are uploaded', async (t) => {
  const ns = await withNamespace(t);
  const r = await runningAttempt(api, [{ 'a.txt': 'alpha' }], 1);
  await kubectl(['apply', '-n', ns, '-f', '-'], podOf('run', r, 'echo partial > /knit/out0/so-far.txt; trap "echo bye > /knit/out0/bye.txt; exit 3" TERM; while true; do sleep 1; done'));
  await kubectl(['wait', '-n', ns, '--for=jsonpath={.status.containerStatuses[0].started}=true', 'pod/run', '--timeout=180s']);
  const out = await kubectl(['exec', '-n', ns, 'run', '-c', 'keep', '--', ...AGENT_ENTRYPOINT, 'stop', '--grace', '5']).catch((err: Error & { stderr?: string }) => {
    throw new Error(`stop failed: ${err.message} ${err.stderr ?? ''}`);
  });
  t.is(typeof out, 'string');
  await kubectl(['wait', '-n', ns, '--for=jsonpath={.status.phase}=Failed', 'pod/run', '--timeout=120s']);
  await keepEnded(ns, 'run');
  const pod = await podJson(ns, 'run');
  // The shell's trap ran (SIGTERM, not SIGKILL), and so it exited with its own code.
  t.is(pod.status.containerStatuses?.find((c) => c.name === 'main')?.state.terminated?.exitCode, 3);
  const [u] = await uploadsOf(api.db.pool, r.runId, 1);
  t.truthy(u, 'the sidecar recorded no upload');
  t.is(await contentOf(u!.blobKey, 'so-far.txt'), 'partial\n');
  t.is(await contentOf(u!.blobKey, 'bye.txt'), 'bye\n');
});

test('stop SIGKILLs processes that ignore SIGTERM once the grace period is over', async (t) => {
  const ns = await withNamespace(t);
  const r = await runningAttempt(api, [{ 'a.txt': 'alpha' }], 1);
  // An ignored signal stays ignored across exec, so sleep ignores SIGTERM as well.
  await kubectl(['apply', '-n', ns, '-f', '-'], podOf('run', r, 'trap "" TERM; echo kept > /knit/out0/x.txt; while true; do sleep 1; done'));
  await kubectl(['wait', '-n', ns, '--for=jsonpath={.status.containerStatuses[0].started}=true', 'pod/run', '--timeout=180s']);
  await kubectl(['exec', '-n', ns, 'run', '-c', 'keep', '--', ...AGENT_ENTRYPOINT, 'stop', '--grace', '2']);
  await keepEnded(ns, 'run');
  const pod = await podJson(ns, 'run');
  t.is(pod.status.containerStatuses?.find((c) => c.name === 'main')?.state.terminated?.exitCode, 137);
  const [u] = await uploadsOf(api.db.pool, r.runId, 1);
  t.truthy(u, 'the sidecar recorded no upload');
  t.is(await contentOf(u!.blobKey, 'x.txt'), 'kept\n');
});
