import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Peak resident set size (VmHWM) of a live process, in bytes. */
export function peakRss(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface Timed {
  seconds: number;
  code: number;
  stdout: string;
  stderr: string;
  /** Highest VmHWM seen while the process ran (sampled every 20 ms). */
  peakRssBytes: number;
}

/** Runs a command to completion, timing it and sampling its peak RSS. */
export function timed(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  const started = process.hrtime.bigint();
  const child: ChildProcess = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let peak = 0;
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const sampler = setInterval(() => {
    const p = child.pid === undefined ? undefined : peakRss(child.pid);
    if (p !== undefined && p > peak) peak = p;
  }, 20);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sampler);
      resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, code: code ?? -1, stdout, stderr, peakRssBytes: peak });
    });
  });
}
