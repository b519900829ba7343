import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { PidFileEnv, readEnv } from './env.js';
import { keepPid } from './ready.js';
import { log } from './log.js';

/**
 * `stop [--grace N]`: what Kubernetes cannot do, stop one container of a running Pod with knit's
 * own grace period. The executor runs it with `kubectl exec` in the sidecar; with
 * shareProcessNamespace the sidecar sees the user's processes and signals them directly.
 */

export class StopRefused extends Error {}

/** The command line of a process, arguments joined by spaces; undefined when it is gone. */
function cmdlineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '').join(' ');
  } catch {
    return undefined;
  }
}

/** Fields of /proc/<pid>/stat after the command name (which may itself hold spaces and parens). */
function statOf(pid: number): { state: string; ppid: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '?', ppid: Number(rest[1]) };
}

/**
 * Refuses unless PID 1 is a Pod's sandbox ("pause") process: only then is this a shared Pod pid
 * namespace, where every other process belongs to the Pod. On a host (a test, a mistake) PID 1 is
 * init, and signalling "every process" would take the machine down.
 */
export function assertPodPidNamespace(): void {
  const init = cmdlineOf(1);
  if (init === undefined) throw new StopRefused('refusing to stop: cannot read /proc/1/cmdline, so this may not be a Pod with a shared process namespace');
  const argv0 = init.split(' ')[0] ?? '';
  if (argv0.split('/').pop() !== 'pause') {
    throw new StopRefused(`refusing to stop: PID 1 is ${JSON.stringify(init.slice(0, 80))}, not the Pod's pause process; stop only works in a Pod with shareProcessNamespace: true`);
  }
}

/** Processes that are ours to leave alone: PID 1, this process and its ancestors, and keep. */
function spared(): Set<number> {
  const keep = new Set<number>([1, process.pid]);
  let pid = process.ppid;
  while (pid > 1 && !keep.has(pid)) {
    keep.add(pid);
    pid = statOf(pid)?.ppid ?? 0;
  }
  const k = keepPid(readEnv(PidFileEnv).KNIT_KEEP_PID_FILE);
  if (k !== undefined) keep.add(k);
  return keep;
}

/** Living processes of the namespace other than the spared ones; zombies are already over. */
function targets(spare: Set<number>): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (spare.has(pid)) continue;
    const st = statOf(pid);
    if (st === undefined || st.state === 'Z' || st.state === 'X') continue;
    pids.push(pid);
  }
  return pids;
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ESRCH') log(`could not send ${signal} to pid ${pid}: ${code ?? (err as Error).message}`);
    }
  }
}

async function waitUntilGone(spare: Set<number>, ms: number): Promise<number[]> {
  const until = Date.now() + ms;
  let left = targets(spare);
  while (left.length > 0 && Date.now() < until) {
    await sleep(100);
    left = targets(spare);
  }
  return left;
}

export function parseGrace(args: readonly string[]): number {
  if (args.length === 0) return 10;
  const m = args[0] === '--grace' && args.length === 2 ? /^\d+$/.exec(args[1]!) : args.length === 1 ? /^--grace=(\d+)$/.exec(args[0]!) : null;
  if (!m) throw new StopRefused(`usage: stop [--grace SECONDS]; got ${JSON.stringify(args.join(' '))}`);
  return Number(m[1] ?? m[0]);
}

/** How long stop waits after SIGKILL: the kernel needs a moment to tear processes down. */
const AFTER_KILL_MS = 5000;

export async function stop(args: readonly string[]): Promise<number> {
  let grace: number;
  try {
    grace = parseGrace(args);
    assertPodPidNamespace();
  } catch (err) {
    if (!(err instanceof StopRefused)) throw err;
    log(err.message);
    return 2;
  }
  const spare = spared();
  const first = targets(spare);
  if (first.length === 0) {
    log('stop: no process of the run is left');
    return 0;
  }
  log(`stop: SIGTERM to ${first.length} process(es) (${first.join(', ')}), SIGKILL after ${grace}s`);
  signalAll(first, 'SIGTERM');
  let left = await waitUntilGone(spare, grace * 1000);
  if (left.length > 0) {
    log(`stop: SIGKILL to ${left.length} process(es) still running (${left.join(', ')})`);
    signalAll(left, 'SIGKILL');
    left = await waitUntilGone(spare, AFTER_KILL_MS);
  }
  if (left.length > 0) {
    log(`stop: ${left.length} process(es) survived SIGKILL (${left.join(', ')})`);
    return 1;
  }
  log('stop: every process of the run has ended');
  return 0;
}
