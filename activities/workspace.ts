import { join } from 'node:path';

/**
 * Where an attempt's files live on the worker's host: inputs extracted read-only, outputs the
 * container writes, and the log while it is assembled. Named by run and attempt, so a retried
 * activity finds the same place and a new attempt never sees an old one's files.
 */
export class Workspace {
  readonly root: string;
  constructor(workdir: string, runId: string, attempt: number) {
    this.root = join(workdir, `${runId}-a${attempt}`);
  }
  input(idx: number): string {
    return join(this.root, 'in', String(idx));
  }
  output(idx: number): string {
    return join(this.root, 'out', String(idx));
  }
  get logDir(): string {
    return join(this.root, 'log');
  }
}

/** The deterministic container name: a retried activity finds the container instead of making a second. */
export function containerName(instance: string, runId: string, attempt: number): string {
  return `${instance}-run-${runId}-a${attempt}`;
}

export const LABEL_INSTANCE = 'knit.instance';
export const LABEL_RUN = 'knit.run';
export const LABEL_ATTEMPT = 'knit.attempt';
