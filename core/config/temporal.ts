import { z } from 'zod';

/**
 * How knit finds Temporal, shared by the API (which wakes the matcher and signals runs) and the
 * worker. KNIT_INSTANCE names this installation's task queues, matcher and containers, so two
 * knits can share a Temporal namespace and a Docker engine without touching each other's work.
 */
export const TemporalEnv = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  KNIT_INSTANCE: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'must be lowercase letters, digits and dashes, at most 40')
    .default('knit'),
});
export type TemporalEnv = z.output<typeof TemporalEnv>;

export function taskQueues(instance: string): { main: string; containers: string } {
  return { main: instance, containers: `${instance}-containers` };
}
