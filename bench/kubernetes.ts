/**
 * knit on Kubernetes, measured on a real cluster (the dev cluster by default):
 *   - per-run overhead: push of a tiny Data to the run done, for a trivial plan with one input and
 *     one output run as a Pod (agent init container and sidecar included), against creating the
 *     same bare Pod (same image, command and resources, no agent) with the same client and waiting
 *     for it to succeed; medians over N sequential runs each (target <= 1.5x);
 *   - dev cluster start to node Ready: not measured here (restarting a shared cluster would stop
 *     everyone else's Pods), but read from a log of k8s/dev-cluster/start.sh and build.sh output
 *     given in KNIT_BENCH_CLUSTER_LOG.
 * The cluster: KNIT_BENCH_KUBECONFIG, else the dev cluster's admin kubeconfig.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, CoreV1Api, Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { KnitClient } from '../client/knit-client.js';
import { agentImageName } from '../executor/kubernetes/agent-image/image.js';
import { loadKubeConfig } from '../executor/kubernetes/client.js';
import { LABEL_INSTANCE, LABEL_RUN, resourceRequirements } from '../executor/kubernetes/pod-spec.js';
import { clusterStartLines } from './lib/cluster-log.js';
import { freshDatabase } from './lib/database.js';
import { startBenchStack } from './lib/stack.js';

const IMAGE = 'knit-test/busybox:1';
const COMMAND = ['true'];
// Small, so the bench fits beside other people's Pods on a 2-core node; the same for both sides.
const RESOURCES = { cpu: '100m', memory: '64Mi' };
const N = 5;
const DEV_KUBECONFIG = '/var/lib/knit-k8s/kubeconfig/admin.conf';
/** The dev cluster's pod bridge gateway (k8s/dev-cluster/lib.sh): the host as Pods reach it. */
const POD_GATEWAY = process.env['KNIT_BENCH_POD_GATEWAY'] ?? '10.88.0.1';
const RUN_TIMEOUT_MS = 180_000;
const POD_TIMEOUT_MS = 120_000;
const GONE_TIMEOUT_MS = 60_000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Polls `probe` until it yields a value; fails naming `what` after `ms`. */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) throw new Error(`gave up after ${ms / 1000} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

function withTimeout<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms / 1000} s`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const isNotFound = (err: unknown) => err instanceof ApiException && err.code === 404;

/** The cluster to measure, or a clear failure saying how to name one. */
function clusterConfig(): { path: string; kc: KubeConfig } {
  const given = process.env['KNIT_BENCH_KUBECONFIG'];
  const path = given || (existsSync(DEV_KUBECONFIG) ? DEV_KUBECONFIG : undefined);
  if (!path) throw new Error(`no Kubernetes cluster: set KNIT_BENCH_KUBECONFIG to a kubeconfig, or start the dev cluster (k8s/dev-cluster/start.sh), whose ${DEV_KUBECONFIG} is the default`);
  try {
    return { path, kc: loadKubeConfig(path) };
  } catch (err) {
    throw new Error(`KNIT_BENCH_KUBECONFIG${given ? '' : ` (unset, so the dev cluster's ${DEV_KUBECONFIG})`}: ${(err as Error).message}`);
  }
}

/** Fails unless the cluster answers and its node already holds both images (nothing can be pulled here). */
async function checkCluster(core: CoreV1Api, path: string, server: string): Promise<void> {
  let nodes;
  try {
    nodes = await withTimeout('listing nodes', 15_000, core.listNode());
  } catch (err) {
    throw new Error(`no Kubernetes cluster reachable at ${server} (kubeconfig ${path}; set KNIT_BENCH_KUBECONFIG to choose another, or start the dev cluster with k8s/dev-cluster/start.sh): ${(err as Error).message}`);
  }
  const images = new Set(nodes.items.flatMap((n) => (n.status?.images ?? []).flatMap((i) => i.names ?? [])));
  for (const [image, how] of [
    [agentImageName(), 'scripts/build-agent-image.sh'],
    [`docker.io/${IMAGE}`, 'scripts/build-test-image.sh and k8s/dev-cluster/import-image.sh'],
  ] as const) {
    if (!images.has(image)) throw new Error(`the cluster at ${server} has no image ${image} on its nodes; import it (${how})`);
  }
}

/**
 * Resolves with the time (hrtime, ns) the Pod was first seen in `phase`: a watch makes that
 * prompt, a read every second makes it correct if the watch drops.
 */
async function watchPhase(kc: KubeConfig, core: CoreV1Api, namespace: string, name: string, phase: string): Promise<{ seen: Promise<bigint>; stop(): void }> {
  let resolve!: (t: bigint) => void;
  let reject!: (err: Error) => void;
  const seen = new Promise<bigint>((res, rej) => ((resolve = res), (reject = rej)));
  const check = (pod: V1Pod | undefined) => {
    const p = pod?.status?.phase;
    if (p === phase) resolve(process.hrtime.bigint());
    else if (p === 'Failed' || (p === 'Succeeded' && phase !== 'Succeeded')) reject(new Error(`Pod ${name} ended ${p}: ${JSON.stringify(pod?.status?.containerStatuses?.map((c) => c.state))}`));
  };
  const watch = await withTimeout(`watching Pod ${name}`, 15_000, new Watch(kc).watch(`/api/v1/namespaces/${namespace}/pods`, { fieldSelector: `metadata.name=${name}` }, (_type, pod: V1Pod) => check(pod), () => {}));
  const poll = setInterval(() => {
    core.readNamespacedPod({ name, namespace }).then(check, () => {});
  }, 1000);
  const timer = setTimeout(() => reject(new Error(`Pod ${name} not ${phase} after ${POD_TIMEOUT_MS / 1000} s`)), POD_TIMEOUT_MS);
  return {
    seen,
    stop() {
      clearInterval(poll);
      clearTimeout(timer);
      watch.abort();
    },
  };
}

/** What became of a run's Pod, container by container, for a failure to say why. */
async function podReport(core: CoreV1Api, namespace: string, runId: string): Promise<string> {
  try {
    const pods = await core.listNamespacedPod({ namespace, labelSelector: `${LABEL_RUN}=${runId}` });
    if (pods.items.length === 0) return 'none left';
    return pods.items
      .map((pod) => {
        const containers = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].map((c) => {
          const t = c.state?.terminated;
          if (t) return `${c.name} exited ${t.exitCode}${t.message ? ` (${t.message.trim()})` : ''}`;
          return `${c.name} ${c.state?.running ? 'running' : `waiting ${c.state?.waiting?.reason ?? ''}`}`;
        });
        return `${pod.metadata?.name} ${pod.status?.phase}: ${containers.join(', ')}`;
      })
      .join('; ');
  } catch (err) {
    return `could not be read: ${(err as Error).message}`;
  }
}

/** The comparison: the plan's container as a Pod of its own, without knit's agent. */
function barePod(name: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      containers: [{ name: 'run', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: COMMAND, resources: resourceRequirements(RESOURCES, 'nvidia.com/gpu')! }],
    },
  };
}

/** Seconds from creating the bare Pod to seeing it Succeeded; the Pod is deleted (and gone) after. */
async function timeBarePod(kc: KubeConfig, core: CoreV1Api, namespace: string, name: string): Promise<number> {
  const w = await watchPhase(kc, core, namespace, name, 'Succeeded');
  try {
    const t0 = process.hrtime.bigint();
    await core.createNamespacedPod({ namespace, body: barePod(name) });
    return Number((await w.seen) - t0) / 1e9;
  } finally {
    w.stop();
    await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => {});
    await podsGone(core, namespace, `metadata.name=${name}`, undefined);
  }
}

async function podsGone(core: CoreV1Api, namespace: string, fieldSelector: string | undefined, labelSelector: string | undefined): Promise<void> {
  await until(`Pods (${fieldSelector ?? labelSelector}) to be gone from ${namespace}`, GONE_TIMEOUT_MS, async () => {
    const pods = await core.listNamespacedPod({ namespace, ...(fieldSelector ? { fieldSelector } : {}), ...(labelSelector ? { labelSelector } : {}) });
    return pods.items.length === 0 ? true : undefined;
  });
}

async function main(): Promise<void> {
  const { path, kc } = clusterConfig();
  const server = kc.getCurrentCluster()!.server;
  const core = kc.makeApiClient(CoreV1Api);
  await checkCluster(core, path, server);
  const clusterLines = clusterStartLines();

  const namespace = `knit-bench-${randomBytes(4).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const work = mkdtempSync(join(tmpdir(), 'knit-bench-k8s-'));
  const results: Record<string, unknown> = { bench: 'kubernetes', cluster: server, runs: N, resources: RESOURCES };
  let stack: Awaited<ReturnType<typeof startBenchStack>> | undefined;
  try {
    // Pods are refused until the namespace's default ServiceAccount exists.
    await until('the default ServiceAccount of the new namespace', 60_000, () =>
      core.readNamespacedServiceAccount({ name: 'default', namespace }).then(
        () => true,
        (err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)),
      ),
    );
    const database = await freshDatabase();
    results['database'] = database.kind;
    stack = await startBenchStack(join(work, 'home'), {}, { database, kubernetes: { kubeconfig: path, namespace, gateway: POD_GATEWAY } });
    const knit = new KnitClient({ server: stack.api, token: stack.token });
    const instance = `bench${process.pid}`;
    const src = join(work, 'src');
    const push = (tag: string, content: string) => {
      rmSync(src, { recursive: true, force: true });
      mkdirSync(src);
      writeFileSync(join(src, 'f'), content);
      return knit.pushDirectory(src, [tag]);
    };
    const tag = `bench:k8s-${process.pid}`;
    const applied = await knit.applyPlan(
      { image: IMAGE, entrypoint: COMMAND, inputs: [{ path: '/in', tags: [tag] }], outputs: [{ path: '/out', tags: [`${tag}-out`] }], resources: RESOURCES },
      { yes: true },
    );
    const planId = applied.plan!.id;
    const toStart: number[] = [];
    const knitRun = async (i: number): Promise<number> => {
      const t0 = Date.now();
      const d = await push(tag, String(i));
      const runId = await until(`the run on Data ${d.id}`, RUN_TIMEOUT_MS, async () => (await knit.findRuns({ plans: [planId], inputs: [d.id] }))[0]?.id, 20);
      const run = await knit.waitRun(runId, { timeoutMs: RUN_TIMEOUT_MS }).catch(async (err: Error) => {
        throw new Error(`${err.message}; its Pod: ${await podReport(core, namespace, runId)}`);
      });
      if (run.status !== 'done') throw new Error(`run ${runId} ended ${run.status}: ${run.message ?? ''}; its Pod: ${await podReport(core, namespace, runId)}`);
      // Let the Pod's removal finish, so it does not share the node with what comes next.
      await podsGone(core, namespace, undefined, `${LABEL_INSTANCE}=${instance}`);
      if (i >= 0) toStart.push((Date.parse(run.startedAt!) - t0) / 1000);
      return (Date.parse(run.finishedAt!) - t0) / 1000;
    };

    // Warm-up, not counted: the first of each pays for caches (the agent's, the kubelet's).
    results['warmupKnitS'] = await knitRun(-1);
    results['warmupBareS'] = await timeBarePod(kc, core, namespace, 'bare-warmup');
    const e2e: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < N; i++) {
      e2e.push(await knitRun(i));
      bare.push(await timeBarePod(kc, core, namespace, `bare-${i}`));
    }
    results['knitRunsS'] = e2e;
    results['barePodsS'] = bare;
    results['runEndToEndS'] = median(e2e);
    // Where the time goes: before the run is started (matching, staging, the Pod made), and after.
    results['pushToStartedS'] = median(toStart);
    results['barePodS'] = median(bare);
    results['overheadRatio'] = median(e2e) / median(bare);
  } finally {
    await stack?.stop();
    rmSync(work, { recursive: true, force: true });
    await core.deleteNamespace({ name: namespace }).catch((err: unknown) => process.stderr.write(`could not delete namespace ${namespace}: ${(err as Error).message}\n`));
    await until(`namespace ${namespace} to be deleted`, GONE_TIMEOUT_MS, () =>
      core.readNamespace({ name: namespace }).then(
        () => undefined,
        (err: unknown) => (isNotFound(err) ? true : undefined),
      ),
    ).catch((err: Error) => process.stderr.write(`${err.message}\n`));
  }
  const r = results as Record<string, number>;
  const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
  process.stdout.write(
    [
      `kubernetes bench (cluster ${server}, ${N} sequential runs each after one warm-up, image ${IMAGE}, ${COMMAND.join(' ')}, cpu ${RESOURCES.cpu} memory ${RESOURCES.memory})`,
      `  per-run overhead  ${r['runEndToEndS']!.toFixed(3)} s push-to-done as a knit Pod vs ${r['barePodS']!.toFixed(3)} s bare Pod create-to-Succeeded = ${r['overheadRatio']!.toFixed(2)}x   [${r['overheadRatio']! <= 1.5 ? 'ok ' : 'MISS'}] target <= 1.5x`,
      `                    knit runs ${list(results['knitRunsS'] as number[])} s (median ${r['pushToStartedS']!.toFixed(2)} s of it push to run running); bare Pods ${list(results['barePodsS'] as number[])} s`,
      ...clusterLines,
      JSON.stringify(results),
      '',
    ].join('\n'),
  );
  writeFileSync(new URL('../../bench/last-kubernetes.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
