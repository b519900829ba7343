import { Client, Connection } from '@temporalio/client';
import type { Logger } from '../core/log/logger.js';
import type { TemporalEnv } from '../core/config/temporal.js';
import { wakeMatcher } from '../core/temporal/wake-matcher.js';
import { signalStop } from '../core/temporal/signal-stop.js';

/** What the API asks of Temporal: wake the matcher after a change, pass a stop to a run. */
export interface Orchestrator {
  /** Never throws and never waits: the outbox and the matcher's backstop cover a lost wake-up. */
  wake(): void;
  /**
   * Tells a run's workflow of a stop already recorded. False when Temporal could not be reached:
   * the matcher delivers the recorded stop once it runs again (activities/deliver-stops.ts).
   */
  stopRun(runId: string, mode: 'stop' | 'fail'): Promise<boolean>;
  close(): Promise<void>;
}

export const noOrchestrator: Orchestrator = {
  wake() {},
  async stopRun() {
    return true;
  },
  async close() {},
};

const WAKE_DEADLINE_MS = 5_000;

/**
 * Connects lazily: the API serves data even while Temporal is down; changes it commits wait in
 * the outbox until the matcher runs again.
 */
export function temporalOrchestrator(env: TemporalEnv, log: Logger): Orchestrator {
  const connection = Connection.lazy({ address: env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  let inFlight = false;
  let again = false;
  // Calls not settled yet. While Temporal is unreachable the SDK retries a call on a timer;
  // closing the connection under such a retry throws from that timer and kills the process.
  const pending = new Set<Promise<unknown>>();
  const tracked = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    void p.then(
      () => pending.delete(p),
      () => pending.delete(p),
    );
    return p;
  };

  const signal = async (): Promise<void> => {
    inFlight = true;
    try {
      do {
        again = false;
        // Bounded, so that a wake-up lost to an outage ends (the backstop covers it) and close() is quick.
        await tracked(connection.withDeadline(Date.now() + WAKE_DEADLINE_MS, () => wakeMatcher(client, env.KNIT_INSTANCE)));
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
        await tracked(signalStop(client, runId, mode));
        return true;
      } catch (err) {
        log.warn({ err: (err as Error).message, runId }, 'could not pass the stop to the run now; it is recorded, and the matcher passes it on');
        return false;
      }
    },
    async close() {
      await Promise.allSettled([...pending]);
      await connection.close();
    },
  };
}
