import type { StoredContent } from '../core/run/attempt.js';
import type { LogLine } from '../core/run/live-log.js';
import type { AttemptContext } from '../core/run/model.js';

export type { LogLine };

/**
 * Where a run attempt's container runs: the port between the run activities and a container
 * platform. Adapters: executor/docker (one Docker engine shared by the workers) and
 * executor/kubernetes (one Pod per attempt). Every method is idempotent and keyed by the
 * attempt alone (never by a worker's memory or disk), because each is called from a Temporal
 * activity that may be retried on another worker.
 */
export interface Executor {
  readonly kind: 'docker' | 'kubernetes';
  /**
   * Puts the inputs where the container will see them (read-only, digest-verified) and empty
   * outputs. Docker: engine-side volumes filled through a never-started staging container.
   * Kubernetes: nothing; the Pod's init container fetches the inputs from knitd.
   */
  stage(ctx: AttemptContext, progress: () => void): Promise<void>;
  /** Creates the container without starting it; resource and placement problems are refusals. */
  create(ctx: AttemptContext, progress: () => void): Promise<{ warnings: string[] }>;
  state(ctx: AttemptContext): Promise<ContainerState>;
  /** Docker: start. Kubernetes: remove the Pod's scheduling gate. */
  start(ctx: AttemptContext): Promise<void>;
  /** The container's log from after `after` (a line's timestamp), following it when asked; nothing when there is no container. */
  logs(ctx: AttemptContext, opts: { follow: boolean; after?: string; signal?: AbortSignal }): AsyncIterable<LogLine[]>;
  /** Waits for the container to end; `note` explains an abnormal end (OOM, eviction, pull failure). */
  wait(ctx: AttemptContext, signal: AbortSignal): Promise<{ exitCode: number | null; note?: string }>;
  /** SIGTERM, then SIGKILL after the grace period; outputs written so far are kept. */
  stop(ctx: AttemptContext, graceSeconds: number): Promise<void>;
  /** Each output stored as its Data's archive, or the reason it could not be. */
  collect(ctx: AttemptContext, progress: () => void): Promise<{ contents: StoredContent[]; problems: string[] }>;
  /** Removes everything the attempt left on the platform. */
  release(ctx: AttemptContext): Promise<void>;
  /** Attempts this knit instance left on the platform, for the sweeper to check against the database. */
  leftovers(): AsyncIterable<{ runId: string; attempt: number; remove(): Promise<void> }>;
}

export type ContainerState = { phase: 'absent' } | { phase: 'created' } | { phase: 'running' } | { phase: 'exited'; exitCode: number | null };

/** A request no retry can change (bad resources, a missing image): the run fails with `message`. */
export class RunRefused extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'RunRefused';
  }
}
