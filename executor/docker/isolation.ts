import type { WorkerEnv } from '../../core/config/config.js';
import type { DockerEnv } from './config.js';

/** What a run's container may reach and do beyond its mounts (README "Container isolation"). */
export interface ContainerIsolation {
  /** A Docker network name, or `none`. */
  networkMode: string;
  /** Capabilities kept; all others are dropped. */
  capAdd: string[];
  noNewPrivileges: boolean;
  /** 0: no limit. */
  pidsLimit: number;
  readonlyRootfs: boolean;
  /** Bytes of the tmpfs on /tmp that a read-only root filesystem gets. */
  tmpfsBytes: number;
  /** `uid[:gid]`, or empty for the image's user. */
  user: string;
}

export const STRICT_ISOLATION: ContainerIsolation = {
  networkMode: 'none',
  capAdd: [],
  noNewPrivileges: true,
  pidsLimit: 4096,
  readonlyRootfs: false,
  tmpfsBytes: 0,
  user: '',
};

/** A deployment's isolation of run containers (README "Container isolation"); `network` is the Docker network of plans that ask for one. */
export type IsolationSettings = Omit<ContainerIsolation, 'networkMode'> & { network: string };

export function isolationSettings(env: WorkerEnv & Pick<DockerEnv, 'KNIT_NETWORK'>): IsolationSettings {
  return {
    network: env.KNIT_NETWORK,
    capAdd: env.KNIT_CAP_ADD,
    noNewPrivileges: env.KNIT_NO_NEW_PRIVILEGES,
    pidsLimit: env.KNIT_PIDS_LIMIT,
    readonlyRootfs: env.KNIT_READONLY_ROOTFS,
    tmpfsBytes: env.KNIT_TMPFS_SIZE,
    user: env.KNIT_CONTAINER_USER,
  };
}

/** What one run's container gets: the network only if its plan asks for it. */
export function containerIsolation(settings: IsolationSettings, planWantsNetwork: boolean): ContainerIsolation {
  const { network, ...rest } = settings;
  return { ...rest, networkMode: planWantsNetwork ? network : 'none' };
}
