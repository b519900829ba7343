import { z } from 'zod';
import { WorkerEnv } from '../core/config/config.js';
import { parseOrThrow } from '../core/validation/parse.js';
import { DockerEnv } from './docker/config.js';

/** Which executor runs the containers, and its settings. */
export const ExecutorEnv = z.object({
  KNIT_EXECUTOR: z.enum(['docker'], { error: 'must be docker' }).default('docker'),
  ...DockerEnv.shape,
});
export type ExecutorEnv = z.output<typeof ExecutorEnv>;

/** Everything a worker process is configured with. */
export const WorkerProcessEnv = WorkerEnv.extend(ExecutorEnv.shape);
export type WorkerProcessEnv = z.output<typeof WorkerProcessEnv>;

export function readWorkerEnv(env: NodeJS.ProcessEnv = process.env): WorkerProcessEnv {
  return parseOrThrow(WorkerProcessEnv, env, 'env');
}
