import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { Logger } from '../core/log/logger.js';
import type { TemporalEnv } from '../core/config/temporal.js';
import { wakeMatcher } from '../core/temporal/wake-matcher.js';
import { runWorkflowId, stopSignal } from '../workflows/definitions.js';

/** What the API asks of Temporal: wake the matcher after a change, pass a stop to a run. */
export interface Orchestrator {
  /** Never throws and never waits: the outbox and the matcher's backstop cover a lost wake-up. */
  wake(): void;
  stopRun(runId: string, mode: 'stop' | 'fail'): Promise<void>;
  close(): Promise<void>;
}

export const noOrchestrator: Orchestrator = {
  wake() {},
  async stopRun() {},
  async close() {},
};

/**
 * Connects lazily: the API serves data even while Temporal is down; changes it commits wait in
 * the outbox until the matcher runs again.
 */
export function temporalOrchestrator(env: TemporalEnv, log: Logger): Orchestrator {
  const connection = Connection.lazy({ address: env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  let inFlight = false;
  let again = false;

  const signal = async (): Promise<void> => {
    inFlight = true;
    try {
      do {
        again = false;
        await wakeMatcher(client, env.KNIT_INSTANCE);
      } while (again);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not wake the matcher; its backstop will pick the change up');
    } finally {
      inFlight = false;
    }
  };

  return {
    wake() {
      // Bursts of changes coalesce into one signal in flight and at most one after it.
      if (inFlight) again = true;
      else void signal();
    },
    async stopRun(runId, mode) {
      try {
        await client.workflow.getHandle(runWorkflowId(runId)).signal(stopSignal, mode);
      } catch (err) {
        // Not started yet (or closed): the request is in the database, where its workflow,
        // started later or anew, finds it.
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    },
    async close() {
      await connection.close();
    },
  };
}
