import { z } from 'zod';
import { WorkerEnv } from '../core/config/config.js';
import { parseOrThrow } from '../core/validation/parse.js';
import { DockerEnv } from './docker/config.js';
import { KubernetesEnv } from './kubernetes/config.js';

/** Which executor runs the containers, and its settings. */
export const ExecutorEnv = z.object({
  KNIT_EXECUTOR: z.enum(['docker', 'kubernetes'], { error: 'must be docker or kubernetes' }).default('docker'),
  ...DockerEnv.shape,
  ...KubernetesEnv.shape,
});
export type ExecutorEnv = z.output<typeof ExecutorEnv>;

/** Everything a worker process is configured with. */
export const WorkerProcessEnv = WorkerEnv.extend(ExecutorEnv.shape).superRefine((env, ctx) => {
  if (env.KNIT_EXECUTOR !== 'kubernetes') return;
  // Pods move Data through knitd with a run-scoped token: both ends need these.
  if (!env.KNIT_AGENT_URL) ctx.addIssue({ code: 'custom', path: ['KNIT_AGENT_URL'], message: 'must be set with KNIT_EXECUTOR=kubernetes: the URL at which Pods reach knitd, such as http://10.88.0.1:7420' });
  if (!env.KNIT_AGENT_SECRET) ctx.addIssue({ code: 'custom', path: ['KNIT_AGENT_SECRET'], message: 'must be set with KNIT_EXECUTOR=kubernetes, to the same value as knitd\'s (openssl rand -hex 32)' });
});
export type WorkerProcessEnv = z.output<typeof WorkerProcessEnv>;

export function readWorkerEnv(env: NodeJS.ProcessEnv = process.env): WorkerProcessEnv {
  return parseOrThrow(WorkerProcessEnv, env, 'env');
}
