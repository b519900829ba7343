import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { knitdBin } from './cli.js';

export interface KnitdProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts the real knitd executable on a free port and waits for its ready line. */
export function spawnKnitd(env: Record<string, string>): Promise<KnitdProcess> {
  const child = spawn(process.execPath, [knitdBin], {
    env: { PATH: process.env['PATH'], KNIT_LISTEN: '127.0.0.1:0', KNIT_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const m = /^knitd listening on (\S+)/.exec(line);
      if (m) {
        resolve({
          url: m[1]!,
          child,
          stderr: () => err,
          async stop(signal: NodeJS.Signals = 'SIGTERM') {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            await exited;
          },
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`knitd exited with ${code} before listening:\n${err}`)));
  });
}
