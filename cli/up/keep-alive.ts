import { setTimeout as sleep } from 'node:timers/promises';
import { startChild, stopChild, type ChildSpec, type ManagedChild } from './supervisor.js';

export interface RestartPolicy {
  /** Restarts allowed within `windowMs`; one more and the child is given up on. */
  maxRestarts: number;
  windowMs: number;
  /** Pause before the n-th restart in the window (n from 1). */
  backoffMs: (n: number) => number;
}

/** Like Kubernetes' restartPolicy OnFailure with a crash-loop limit: 5 restarts a minute, 1 s, 2 s, 4 s… apart. */
export const defaultRestartPolicy: RestartPolicy = { maxRestarts: 5, windowMs: 60_000, backoffMs: (n) => Math.min(1000 * 2 ** (n - 1), 10_000) };

export interface KeptChild {
  readonly name: string;
  /** What the first start's ready line captured. */
  readonly readyValue: string;
  /** The process now running, for signals and tests; it changes on each restart. */
  readonly pid: number | undefined;
  /** Resolves, with the reason, once the child has crashed too often or cannot be restarted. */
  readonly gaveUp: Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts a child and restarts it whenever it exits on its own, so that one crash of the worker
 * or the API does not take the whole local stack down: runs in flight resume on the new worker.
 * A child that crashes in a loop is given up on, and `gaveUp` says why.
 */
export async function keepAlive(spec: ChildSpec, log: (line: string) => void, policy: RestartPolicy = defaultRestartPolicy): Promise<KeptChild> {
  let current: ManagedChild = await startChild(spec);
  const first = current;
  let stopping = false;
  const pausing = new AbortController();
  // A restart in progress; stop() waits for it so that it never leaves a fresh child behind.
  let starting: Promise<void> = Promise.resolve();
  const restarts: number[] = [];
  const stopped = new Promise<string>(() => {});

  const gaveUp = (async (): Promise<string> => {
    for (;;) {
      const how = await exitOf(current);
      if (stopping) return stopped;
      const now = Date.now();
      while (restarts.length > 0 && restarts[0]! <= now - policy.windowMs) restarts.shift();
      if (restarts.length >= policy.maxRestarts) {
        return `${spec.name} exited (${how}) ${restarts.length + 1} times within ${policy.windowMs / 1000} s; its log is above`;
      }
      restarts.push(now);
      const pause = policy.backoffMs(restarts.length);
      log(`${spec.name} exited (${how}); restarting it in ${pause / 1000} s (restart ${restarts.length} of at most ${policy.maxRestarts} per ${policy.windowMs / 1000} s)`);
      try {
        await sleep(pause, undefined, { signal: pausing.signal });
      } catch {
        return stopped;
      }
      starting = startChild(spec).then((c) => {
        current = c;
      });
      try {
        await starting;
      } catch (err) {
        return stopping ? stopped : `${spec.name} could not be restarted: ${(err as Error).message}`;
      }
      if (stopping) return stopped;
      log(`${spec.name} is back`);
    }
  })();

  return {
    name: spec.name,
    readyValue: first.readyValue,
    get pid() {
      return current.process.pid;
    },
    gaveUp,
    async stop() {
      stopping = true;
      pausing.abort();
      await starting.catch(() => {});
      await stopChild(current.process);
    },
  };
}

function exitOf(child: ManagedChild): Promise<string> {
  const p = child.process;
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.signalCode ?? `code ${p.exitCode}`);
  return new Promise((resolve) => p.once('exit', (code, signal) => resolve(signal ?? `code ${code}`)));
}
