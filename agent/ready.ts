import { readFileSync } from 'node:fs';
import { PidFileEnv, readEnv } from './env.js';

/** The pid `keep` wrote, or undefined when there is no usable pid file. */
export function keepPid(pidFile: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(pidFile, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it is only not ours to signal.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `ready`: the sidecar's startupProbe. Succeeds once `keep` has written its pid file and lives. */
export function ready(): number {
  const { KNIT_KEEP_PID_FILE: pidFile } = readEnv(PidFileEnv);
  const pid = keepPid(pidFile);
  if (pid === undefined) {
    process.stderr.write(`knit-agent: not ready: no pid file ${pidFile} yet\n`);
    return 1;
  }
  if (!isAlive(pid)) {
    process.stderr.write(`knit-agent: not ready: keep (pid ${pid}, from ${pidFile}) is not running\n`);
    return 1;
  }
  return 0;
}
