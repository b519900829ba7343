import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** A line on the child's stdout that means it is ready; its first capture group is returned. */
  ready: RegExp;
  readyTimeoutMs?: number;
}

export interface ManagedChild {
  readonly name: string;
  readonly process: ChildProcess;
  /** What the ready pattern captured, e.g. the URL the child listens on. */
  readonly readyValue: string;
}

/**
 * Starts a child, forwards its stderr (logs) to ours, and resolves once it prints its ready line.
 * Rejects if it exits or stays silent past the timeout.
 */
export function startChild(spec: ChildSpec): Promise<ManagedChild> {
  const child = spawn(spec.command, spec.args, { env: spec.env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${spec.name} did not become ready within ${(spec.readyTimeoutMs ?? 60_000) / 1000}s`));
    }, spec.readyTimeoutMs ?? 60_000);
    const lines = createInterface({ input: child.stdout! });
    let ready = false;
    lines.on('line', (line) => {
      if (ready) return;
      const m = spec.ready.exec(line);
      if (m) {
        ready = true;
        clearTimeout(timer);
        resolve({ name: spec.name, process: child, readyValue: m[1] ?? line });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`${spec.name} exited before it was ready (${signal ?? `code ${code}`})`));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${spec.name}: ${err.message}`));
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child is gone. */
export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
