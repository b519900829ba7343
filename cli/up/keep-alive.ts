import { setTimeout as sleep } from 'node:timers/promises';
import { startChild, stopChild, type ChildSpec, type ManagedChild } from './supervisor.js';

export interface RestartPolicy {
  /** Restarts allowed within `windowMs`; one more failure and the child is given up on. */
  maxRestarts: number;
  windowMs: number;
  /** Pause before the n-th restart in the window (n from 1). */
  backoffMs: (n: number) => number;
}

/** Like Kubernetes' restartPolicy OnFailure with a crash-loop limit: 5 restarts a minute, 1 s, 2 s, 4 s… apart. */
export const defaultRestartPolicy: RestartPolicy = { maxRestarts: 5, windowMs: 60_000, backoffMs: (n) => Math.min(1000 * 2 ** (n - 1), 10_000) };

/** What keepAlive keeps running: a name for messages, and how to start one instance of it. */
export interface Restartable {
  name: string;
  /** Resolves once the child is ready; rejects if it cannot get there. */
  start(): Promise<ManagedChild>;
}

export interface KeptChild {
  readonly name: string;
  /** What the first start's ready line captured. */
  readonly readyValue: string;
  /** The process now running, for signals and tests; it changes on each restart. */
  readonly pid: number | undefined;
  /** Resolves, with the reason, once the child has failed more often than the policy allows. */
  readonly gaveUp: Promise<string>;
  stop(): Promise<void>;
}

/** A child process started from a spec, restarted by the same spec. */
export function processOf(spec: ChildSpec): Restartable {
  return { name: spec.name, start: () => startChild(spec) };
}

/**
 * Starts a child and restarts it whenever it exits on its own, so that one crash of the worker,
 * the API or the Temporal dev server does not take the whole local stack down: runs in flight
 * resume on the new worker. A child that fails in a loop is given up on, and `gaveUp` says why.
 *
 * A failure is an exit, or a restart that does not get as far as ready (it exits first, stays
 * silent, cannot be spawned): both count against the same policy, because a child that crashes
 * while it starts is crash-looping like one that crashes later, and deserves the same restarts.
 */
export async function keepAlive(child: Restartable | ChildSpec, log: (line: string) => void, policy: RestartPolicy = defaultRestartPolicy): Promise<KeptChild> {
  const kept = 'start' in child ? child : processOf(child);
  const name = kept.name;
  let current: ManagedChild = await kept.start();
  const first = current;
  let stopping = false;
  const pausing = new AbortController();
  // A restart in progress; stop() waits for it so that it never leaves a fresh child behind.
  let starting: Promise<unknown> = Promise.resolve();
  const restarts: number[] = [];
  const stopped = new Promise<string>(() => {});

  const gaveUp = (async (): Promise<string> => {
    let failure = await exitOf(name, current);
    for (;;) {
      if (stopping) return stopped;
      const now = Date.now();
      while (restarts.length > 0 && restarts[0]! <= now - policy.windowMs) restarts.shift();
      if (restarts.length >= policy.maxRestarts) {
        return `${name} failed ${restarts.length + 1} times within ${policy.windowMs / 1000} s, the last time: ${failure}; its log is above`;
      }
      restarts.push(now);
      const pause = policy.backoffMs(restarts.length);
      log(`${failure}; restarting it in ${pause / 1000} s (restart ${restarts.length} of at most ${policy.maxRestarts} per ${policy.windowMs / 1000} s)`);
      try {
        await sleep(pause, undefined, { signal: pausing.signal });
      } catch {
        return stopped;
      }
      // `current` is set in the same chain stop() waits on, so stop() always stops the newest child.
      const next = kept.start().then((c) => {
        current = c;
      });
      starting = next.catch(() => {});
      try {
        await next;
      } catch (err) {
        failure = (err as Error).message;
        continue;
      }
      if (stopping) return stopped;
      log(`${name} is back`);
      failure = await exitOf(name, current);
    }
  })();

  return {
    name,
    readyValue: first.readyValue,
    get pid() {
      return current.process.pid;
    },
    gaveUp,
    async stop() {
      stopping = true;
      pausing.abort();
      await starting;
      await stopChild(current.process);
    },
  };
}

function exitOf(name: string, child: ManagedChild): Promise<string> {
  const p = child.process;
  const how = (code: number | null, signal: NodeJS.Signals | null) => `${name} exited (${signal ?? `code ${code}`})`;
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(how(p.exitCode, p.signalCode));
  return new Promise((resolve) => p.once('exit', (code, signal) => resolve(how(code, signal))));
}
