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

/** Whether keep is up now; why not, when it is not. */
function notReadyReason(pidFile: string): string | undefined {
  const pid = keepPid(pidFile);
  if (pid === undefined) return `no pid file ${pidFile} yet`;
  if (!isAlive(pid)) return `keep (pid ${pid}, from ${pidFile}) is not running`;
  return undefined;
}

const POLL_MS = 20;

/**
 * `ready [--wait SECONDS]`: succeeds once `keep` has written its pid file and lives. With
 * --wait it polls until then: the sidecar's postStart hook, which holds the run container back
 * until keep can take the kubelet's SIGTERM, with no probe period to wait out.
 */
export async function ready(args: string[] = []): Promise<number> {
  const { KNIT_KEEP_PID_FILE: pidFile } = readEnv(PidFileEnv);
  const waitSeconds = args[0] === '--wait' ? Number(args[1]) : 0;
  if (args.length > 0 && (args[0] !== '--wait' || !Number.isFinite(waitSeconds) || waitSeconds <= 0 || args.length !== 2)) {
    process.stderr.write('knit-agent: usage: ready [--wait SECONDS]\n');
    return 2;
  }
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    const why = notReadyReason(pidFile);
    if (why === undefined) return 0;
    if (Date.now() >= deadline) {
      process.stderr.write(`knit-agent: not ready: ${why}\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
