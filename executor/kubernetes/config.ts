import { z } from 'zod';
import { setting } from '../../core/config/config.js';

/** The Kubernetes executor's settings (KNIT_EXECUTOR=kubernetes); README "Pointing knit at a cluster". */
export const KubernetesEnv = z.object({
  /** A kubeconfig file; unset: the worker's own service account inside a cluster, else $KUBECONFIG or ~/.kube/config. */
  KNIT_K8S_KUBECONFIG: z.string().min(1).optional(),
  KNIT_K8S_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Kubernetes namespace name (lowercase letters, digits and -)')
    .default('default'),
  /** How long a started Pod may stay unschedulable before its run fails with the scheduler's reason. */
  KNIT_K8S_PENDING_TIMEOUT: setting.duration('5m'),
  /** The extended resource a plan's `gpu` becomes. */
  KNIT_K8S_GPU_RESOURCE: z
    .string()
    .regex(/^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'must be a resource name such as nvidia.com/gpu')
    .default('nvidia.com/gpu'),
  /** knitd as the Pods reach it: the agent fetches inputs and uploads outputs there. */
  KNIT_AGENT_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL of knitd that Pods can reach, such as http://10.88.0.1:7420' }).optional(),
  /** The agent image (scripts/build-agent-image.sh); unset: the one of this knit version. */
  KNIT_AGENT_IMAGE: z.string().min(1).optional(),
});
export type KubernetesEnv = z.output<typeof KubernetesEnv>;
