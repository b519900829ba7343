import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { knitBin } from './cli.js';

export interface KnitUp {
  readonly child: ChildProcess;
  /** Its KNIT_INSTANCE: random unless given, so that no other test's containers are taken for its own. */
  readonly instance: string;
  readonly api: string;
  readonly stdout: string[];
  stderr(): string;
  readonly exited: Promise<number | null>;
}

/**
 * Runs the real `knit up` in `home` (its own Temporal dev server and embedded PostgreSQL, not the
 * shared ones) and waits until it says it is ready.
 */
export async function startKnitUp(
  home: string,
  ports: { api: number; temporal: number; ui: number },
  opts: { instance?: string; env?: Record<string, string> } = {},
): Promise<KnitUp> {
  const instance = opts.instance ?? `up${randomBytes(4).toString('hex')}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KNIT_HOME: home,
    KNIT_INSTANCE: instance,
    KNIT_HEARTBEAT_TIMEOUT: '5s',
    KNIT_STEP_TIMEOUT: '10s',
    KNIT_STOP_GRACE_SECONDS: '2',
    KNIT_LOG_LEVEL: 'warn',
    ...opts.env,
  };
  delete env['DATABASE_URL'];
  delete env['TEMPORAL_ADDRESS'];
  const child = spawn(process.execPath, [knitBin, 'up', '--listen', `127.0.0.1:${ports.api}`, '--temporal-port', String(ports.temporal), '--ui-port', String(ports.ui)], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-20000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      stdout.push(l);
      if (l.startsWith('Press Ctrl-C')) resolve();
    });
    void exited.then((code) => reject(new Error(`knit up exited (${code}):\n${stderr}`)));
  });
  return { child, instance, api: `http://127.0.0.1:${ports.api}`, stdout, stderr: () => stderr, exited };
}
