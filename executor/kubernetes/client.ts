import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * The cluster knit talks to: the kubeconfig file at `path` when given (it must exist), else the
 * Pod's own service account when knit runs inside the cluster, else the usual default
 * ($KUBECONFIG, ~/.kube/config).
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) {
    if (!existsSync(path)) throw new Error(`the kubeconfig ${path} does not exist`);
    kc.loadFromFile(path);
  } else if (process.env['KUBERNETES_SERVICE_HOST'] && existsSync(IN_CLUSTER_TOKEN)) {
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
  }
  if (!kc.getCurrentCluster()) throw new Error(`no Kubernetes cluster is configured${path ? ` in ${path}` : ' (no kubeconfig found and not running inside a cluster)'}`);
  return kc;
}
