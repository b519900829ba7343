import test from 'ava';
import { readFileSync, rmSync } from 'node:fs';
import { defaultRestartPolicy, keepAlive } from '../../cli/up/keep-alive.js';

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
  t.is(reason, 'child failed 3 times within 60 s, the last time: child exited (code 3); its log is above');
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

test('a child that cannot come back is restarted as often as the policy allows, then given up on with the reason', async (t) => {
  const marker = `/tmp/knit-keepalive-${process.pid}-${Date.now()}`;
  t.teardown(() => rmSync(marker, { force: true }));
  // Ready the first time only; afterwards it exits before its ready line.
  const script = `const fs=require('fs'); fs.appendFileSync('${marker}','s'); if (fs.readFileSync('${marker}','utf8').length > 1) process.exit(4); console.log('ready'); setTimeout(() => process.exit(1), 50)`;
  const lines: string[] = [];
  const kept = await keepAlive(child(script), (l) => lines.push(l), fast);
  t.is(await kept.gaveUp, 'child failed 3 times within 60 s, the last time: child exited before it was ready (code 4); its log is above');
  t.deepEqual(lines, [
    'child exited (code 1); restarting it in 0.01 s (restart 1 of at most 2 per 60 s)',
    'child exited before it was ready (code 4); restarting it in 0.01 s (restart 2 of at most 2 per 60 s)',
  ]);
  t.is(readFileSync(marker, 'utf8').length, 3, 'started once, restarted twice');
});

test('as documented, five quick crashes within a minute are restarted and the sixth gives up, also when a crash comes while it starts', async (t) => {
  t.is(defaultRestartPolicy.maxRestarts, 5);
  t.is(defaultRestartPolicy.windowMs, 60_000);
  const marker = `/tmp/knit-keepalive-${process.pid}-${Date.now()}-5`;
  t.teardown(() => rmSync(marker, { force: true }));
  // Odd starts get ready and crash soon after; even ones crash before they are ready.
  const script = `const fs=require('fs'); fs.appendFileSync('${marker}','s'); const n = fs.readFileSync('${marker}','utf8').length; if (n % 2 === 0) process.exit(5); console.log('ready'); setTimeout(() => process.exit(3), 20)`;
  const lines: string[] = [];
  const kept = await keepAlive(child(script), (l) => lines.push(l), { ...defaultRestartPolicy, backoffMs: () => 10 });
  t.is(await kept.gaveUp, 'child failed 6 times within 60 s, the last time: child exited before it was ready (code 5); its log is above');
  t.is(readFileSync(marker, 'utf8').length, 6, 'started once, restarted five times');
  t.deepEqual(
    lines.filter((l) => l.includes('restarting')).map((l) => /restart (\d) of at most 5 per 60 s/.exec(l)?.[1]),
    ['1', '2', '3', '4', '5'],
  );
});

test('the backoff grows 1 s, 2 s, 4 s, 8 s, then stays at 10 s: five restarts fit in a minute with time to start', (t) => {
  t.deepEqual([1, 2, 3, 4, 5, 6].map(defaultRestartPolicy.backoffMs), [1000, 2000, 4000, 8000, 10_000, 10_000]);
});
