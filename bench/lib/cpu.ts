/**
 * Where the machine's CPU goes during a phase of a bench (issue 11): the whole machine's busy
 * time from /proc/stat, and each long-lived process's own time plus that of the children it
 * waited for (utime, stime, cutime, cstime of /proc/<pid>/stat), grouped by what it is. What
 * exits unwaited by a long-lived parent (containers' shims, whose runc and processes they reap)
 * is in "the rest": the machine's total less the groups.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

interface Snapshot {
  busyTicks: number;
  byPid: Map<number, { comm: string; ticks: number }>;
}

function machineBusyTicks(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...: all but idle and iowait is busy.
  return cpu.reduce((a, b) => a + b, 0) - (cpu[3] ?? 0) - (cpu[4] ?? 0);
}

function processTicks(pid: number): { comm: string; ticks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces; the fields after it are positional.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const f = stat.slice(close + 2).split(' ');
    return { comm, ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined;
  }
}

export function cpuSnapshot(): Snapshot {
  const byPid = new Map<number, { comm: string; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const p = processTicks(pid);
    if (p) byPid.set(pid, p);
  }
  return { busyTicks: machineBusyTicks(), byPid };
}

export type CpuGroups = Record<string, number>;

/**
 * CPU seconds between two snapshots, by group: `named` maps pids to a group (knitd, the worker),
 * the rest go by command name (the Docker engine, Temporal, PostgreSQL), and `rest` is what the
 * machine spent beyond them.
 */
export function cpuBetween(before: Snapshot, after: Snapshot, named: Record<number, string>): { totalS: number; groups: CpuGroups } {
  const groups: CpuGroups = {};
  let known = 0;
  for (const [pid, p] of after.byPid) {
    const group = named[pid] ?? groupOf(p.comm);
    if (!group) continue;
    const ticks = p.ticks - (before.byPid.get(pid)?.ticks ?? 0);
    groups[group] = (groups[group] ?? 0) + ticks / TICKS_PER_SECOND;
    known += ticks;
  }
  const total = after.busyTicks - before.busyTicks;
  groups['rest'] = Math.max(0, total - known) / TICKS_PER_SECOND;
  return { totalS: total / TICKS_PER_SECOND, groups };
}

function groupOf(comm: string): string | undefined {
  if (comm === 'dockerd' || comm === 'containerd' || comm.startsWith('containerd-shim')) return 'docker';
  if (comm === 'temporal') return 'temporal';
  if (comm === 'postgres') return 'postgres';
  return undefined;
}

export function formatCpu(label: string, wallS: number, c: { totalS: number; groups: CpuGroups }): string {
  const parts = Object.entries(c.groups)
    .sort((a, b) => b[1] - a[1])
    .map(([g, s]) => `${g} ${s.toFixed(1)}`);
  return `  CPU, ${label}: ${c.totalS.toFixed(1)} s busy in ${wallS.toFixed(1)} s (${(c.totalS / wallS).toFixed(2)} cores): ${parts.join(', ')}`;
}
