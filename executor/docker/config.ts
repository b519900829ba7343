import { z } from 'zod';
import { setting } from '../../core/config/config.js';

/** The Docker executor's settings (KNIT_EXECUTOR=docker). */
export const DockerEnv = z.object({
  DOCKER_SOCKET: z.string().min(1).default('/var/run/docker.sock'),
  /** The Docker network of runs whose plan says `network: true`; other runs have none. */
  KNIT_NETWORK: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a Docker network name').default('bridge'),
  KNIT_PULL_TIMEOUT: setting.duration('60s'),
  /**
   * How inputs get into a run's volumes: `auto` writes them straight into the volumes' folders
   * when the worker runs beside the engine and owns them (executor/docker/volume-folder.ts), and
   * uses a staging container otherwise; `container` always uses the staging container.
   */
  KNIT_DOCKER_STAGING: z.enum(['auto', 'container']).default('auto'),
});
export type StagingMode = DockerEnv['KNIT_DOCKER_STAGING'];
export type DockerEnv = z.output<typeof DockerEnv>;
