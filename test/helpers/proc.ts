import { readdirSync, readFileSync } from 'node:fs';

/** The direct children of `pid` whose command line contains `match`, read from /proc. */
export function childProcesses(pid: number, match: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The name field may hold spaces and parentheses; the parent pid is the 2nd field after its ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(match)) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}
