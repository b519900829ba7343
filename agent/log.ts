import { writeFileSync } from 'node:fs';
import { terminationLogPath } from './env.js';

/** One line on stderr, which becomes the container's log. */
export function log(message: string): void {
  process.stderr.write(`knit-agent: ${message}\n`);
}

/**
 * Writes why the agent failed where Kubernetes picks it up as the container's termination message
 * (at most 4096 bytes are kept; one line is all the executor shows).
 */
export function writeTerminationMessage(reason: string): void {
  const line = reason.replace(/\s+/g, ' ').trim().slice(0, 2000);
  try {
    writeFileSync(terminationLogPath(), `${line}\n`);
  } catch (err) {
    log(`could not write the termination log ${terminationLogPath()}: ${(err as Error).message}`);
  }
}
