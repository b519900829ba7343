import test from 'ava';
import { keepAlive } from '../../cli/up/keep-alive.js';

const fast = { maxRestarts: 2, windowMs: 60_000, backoffMs: () => 10 };
const child = (script: string) => ({ name: 'child', command: process.execPath, args: ['-e', script], env: process.env, ready: /^(ready)/ });
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a child that crashes is restarted, and given up on once it crashes too often', async (t) => {
  const lines: string[] = [];
  const kept = await keepAlive(child("console.log('ready'); setTimeout(() => process.exit(3), 50)"), (l) => lines.push(l), fast);
  const reason = await kept.gaveUp;
  t.is(reason, 'child exited (code 3) 3 times within 60 s; its log is above');
  t.deepEqual(lines, [
    'child exited (code 3); restarting it in 0.01 s (restart 1 of at most 2 per 60 s)',
    'child is back',
    'child exited (code 3); restarting it in 0.01 s (restart 2 of at most 2 per 60 s)',
    'child is back',
  ]);
});

test('stop ends the running child and restarts nothing after it', async (t) => {
  const lines: string[] = [];
  const kept = await keepAlive(child("console.log('ready'); setInterval(() => {}, 1000)"), (l) => lines.push(l), fast);
  const first = kept.pid!;
  process.kill(first, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 1000));
  t.not(kept.pid, first, 'a new process took over');
  const second = kept.pid!;
  await kept.stop();
  await new Promise((r) => setTimeout(r, 200));
  t.false(alive(second));
  t.is(kept.pid, second, 'nothing was started after stop');
  t.deepEqual(lines, ['child exited (SIGKILL); restarting it in 0.01 s (restart 1 of at most 2 per 60 s)', 'child is back']);
});

test('a child that cannot come back is given up on with the reason', async (t) => {
  const marker = `/tmp/knit-keepalive-${process.pid}-${Date.now()}`;
  // Ready the first time only; afterwards it exits before its ready line.
  const script = `const fs=require('fs'); if (fs.existsSync('${marker}')) process.exit(4); fs.writeFileSync('${marker}',''); console.log('ready'); setTimeout(() => process.exit(1), 50)`;
  const kept = await keepAlive(child(script), () => {}, fast);
  t.regex(await kept.gaveUp, /^child could not be restarted: child exited before it was ready \(code 4\)/);
  const { rmSync } = await import('node:fs');
  rmSync(marker, { force: true });
});
