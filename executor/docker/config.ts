import { z } from 'zod';
import { setting } from '../../core/config/config.js';

/** The Docker executor's settings (KNIT_EXECUTOR=docker). */
export const DockerEnv = z.object({
  DOCKER_SOCKET: z.string().min(1).default('/var/run/docker.sock'),
  /** The Docker network of runs whose plan says `network: true`; other runs have none. */
  KNIT_NETWORK: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a Docker network name').default('bridge'),
  KNIT_PULL_TIMEOUT: setting.duration('60s'),
  /**
   * How a run's Data gets into and out of its volumes: `auto` writes inputs into the volumes'
   * folders and reads outputs from them when the worker runs beside the engine and owns them
   * (executor/docker/volume-folder.ts), and goes through the engine otherwise; `engine` always
   * goes through the engine (a staging container in, the archive call out).
   */
  KNIT_DOCKER_VOLUME_IO: z.enum(['auto', 'engine']).default('auto'),
});
export type VolumeIo = DockerEnv['KNIT_DOCKER_VOLUME_IO'];
export type DockerEnv = z.output<typeof DockerEnv>;
