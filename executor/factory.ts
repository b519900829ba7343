import { mintAgentToken } from '../core/agent/token.js';
import type { Pool } from '../core/db/pool.js';
import type { Logger } from '../core/log/logger.js';
import { uploadsOf } from '../core/run/uploads.js';
import type { BlobStore } from '../core/storage/blob-store.js';
import type { WorkerProcessEnv } from './config.js';
import { DockerExecutor } from './docker/docker-executor.js';
import { DockerEngine } from './docker/engine.js';
import { isolationSettings } from './docker/isolation.js';
import type { Executor } from './executor.js';
import { AGENT_ENTRYPOINT, agentImageName } from './kubernetes/agent-image/image.js';
import { loadKubeConfig } from './kubernetes/client.js';
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { KubernetesExecutor } from './kubernetes/kubernetes-executor.js';

export interface ExecutorDeps {
  pool: Pool;
  store: BlobStore;
  log: Logger;
  /** Scratch space of single activities on this worker. */
  workdir: string;
}

/**
 * The one place an executor is chosen and built (KNIT_EXECUTOR). It checks the platform is
 * reachable and usable now, so a misconfigured worker fails at start, not at its first run.
 */
export async function openExecutor(env: WorkerProcessEnv, deps: ExecutorDeps): Promise<Executor> {
  switch (env.KNIT_EXECUTOR) {
    case 'docker': {
      const docker = new DockerEngine(env.DOCKER_SOCKET);
      await docker.version();
      // Found now, not by the first plan that asks for the network (Docker answers 404, like a missing image).
      if (!(await docker.hasNetwork(env.KNIT_NETWORK))) throw new Error(`KNIT_NETWORK: the Docker engine has no network ${JSON.stringify(env.KNIT_NETWORK)}; create it (docker network create) or choose another`);
      return new DockerExecutor({ docker, store: deps.store, instance: env.KNIT_INSTANCE, workdir: deps.workdir, pullTimeoutMs: env.KNIT_PULL_TIMEOUT, isolation: isolationSettings(env), volumeIo: env.KNIT_DOCKER_VOLUME_IO });
    }
    case 'kubernetes': {
      // WorkerProcessEnv made sure both are set with this executor.
      const secret = env.KNIT_AGENT_SECRET!;
      const kubeConfig = loadKubeConfig(env.KNIT_K8S_KUBECONFIG);
      await reachNamespace(kubeConfig, env.KNIT_K8S_NAMESPACE);
      const executor = new KubernetesExecutor({
        kubeConfig,
        namespace: env.KNIT_K8S_NAMESPACE,
        instance: env.KNIT_INSTANCE,
        agent: {
          image: env.KNIT_AGENT_IMAGE ?? agentImageName(),
          entrypoint: [...AGENT_ENTRYPOINT],
          url: env.KNIT_AGENT_URL!,
          token: (ctx) => mintAgentToken(secret, { runId: ctx.runId, attempt: ctx.attempt }),
        },
        uploads: (ctx) => uploadsOf(deps.pool, ctx.runId, ctx.attempt),
        store: deps.store,
        pendingTimeoutMs: env.KNIT_K8S_PENDING_TIMEOUT,
        gpuResource: env.KNIT_K8S_GPU_RESOURCE,
        isolation: { capAdd: env.KNIT_CAP_ADD },
        log: deps.log,
      });
      return executor;
    }
  }
}

/**
 * The namespace must exist and the worker must list Pods in it (the sweeper does at once): said
 * now, naming the settings. A worker not allowed to read namespaces (a namespaced Role) is taken
 * at its word that this one exists.
 */
async function reachNamespace(kubeConfig: KubeConfig, namespace: string): Promise<void> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const server = kubeConfig.getCurrentCluster()?.server ?? 'the cluster';
  const fail = (why: string) => new Error(`KNIT_K8S_NAMESPACE: ${why} at ${server}; check KNIT_K8S_KUBECONFIG, the namespace and the worker's permissions (k8s/README.md)`);
  try {
    await core.readNamespace({ name: namespace });
  } catch (err) {
    const code = err instanceof ApiException ? err.code : undefined;
    if (code === 404) throw fail(`there is no namespace ${JSON.stringify(namespace)}`);
    if (code !== 403) throw fail(`cannot read namespace ${JSON.stringify(namespace)} (${(err as Error).message.split('\n')[0]})`);
  }
  try {
    await core.listNamespacedPod({ namespace, limit: 1 });
  } catch (err) {
    throw fail(`cannot list Pods in namespace ${JSON.stringify(namespace)} (${(err as Error).message.split('\n')[0]})`);
  }
}
