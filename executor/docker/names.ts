/** The deterministic container name: a retried activity finds the container instead of making a second. */
export function containerName(instance: string, runId: string, attempt: number): string {
  return `${instance}-run-${runId}-a${attempt}`;
}

export const LABEL_INSTANCE = 'knit.instance';
export const LABEL_RUN = 'knit.run';
export const LABEL_ATTEMPT = 'knit.attempt';
/** `run` for a run's container, `staging` for the never-started one that fills its volumes. */
export const LABEL_ROLE = 'knit.role';
