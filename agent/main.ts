import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KnitError } from '../core/errors/knit-error.js';
import { fetchInputs } from './fetch.js';
import { keep } from './keep.js';
import { log, writeTerminationMessage } from './log.js';
import { ready } from './ready.js';
import { stop } from './stop.js';

/**
 * knit's agent, the program of the agent image in every Kubernetes Pod of a run:
 *   fetch   inputs from knitd into their folders
 *   keep    native sidecar: fetch, then outputs from their folders to knitd, on SIGTERM
 *   ready   is keep up? (--wait: the sidecar's postStart hook, until it is)
 *   stop    signal the user's processes (shared process namespace), SIGKILL after a grace period
 * Exit code 0 only on success; a failure's reason also goes to the termination log.
 */
const USAGE = 'usage: knit-agent fetch | keep | ready [--wait SECONDS] | stop [--grace SECONDS]';

async function run(command: string | undefined, args: string[]): Promise<number> {
  switch (command) {
    case 'fetch':
      await fetchInputs();
      return 0;
    case 'keep':
      return keep();
    case 'ready':
      return ready(args);
    case 'stop':
      return stop(args);
    default:
      throw new KnitError('bad_request', `${command === undefined ? 'no command' : `unknown command ${JSON.stringify(command)}`}; ${USAGE}`);
  }
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const command = argv[2];
  let code: number;
  try {
    code = await run(command, argv.slice(3));
  } catch (err) {
    const reason = `${command ?? 'knit-agent'}: ${(err as Error)?.message ?? String(err)}`;
    log(reason);
    // Only the Pod's long-lived commands report through the termination log; a failed probe or
    // stop is the executor's to read from the exec's output.
    if (command === 'fetch' || command === 'keep') writeTerminationMessage(reason);
    code = 1;
  }
  process.exitCode = code;
  // A finished command must not linger on an open socket or timer.
  setImmediate(() => process.exit(code));
}

/** Whether this module is the program node was started with; through a symlink too (knit's image links /knit/agent to dist/agent). */
function isEntryPoint(): boolean {
  const started = process.argv[1];
  if (!started) return false;
  try {
    return fileURLToPath(import.meta.url) === realpathSync(started);
  } catch {
    return false;
  }
}

// Run when executed, not when imported (tests import the pieces).
if (isEntryPoint()) void main();
