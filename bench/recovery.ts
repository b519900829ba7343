/**
 * Recovery after a worker SIGKILL, on the local stack (Docker, Temporal, PostgreSQL from
 * DATABASE_URL or embedded PGlite): a worker holds a waiting run's createContainer (an image pull
 * that does not end, KNIT_FAULT=createContainer:hang), a second worker runs, the first is
 * SIGKILLed; measured is the time from the kill to the start of that run's container (Docker's
 * start event). Without a heartbeat timeout on the step this was its whole timeout (5 minutes).
 * Reported per round, with the heartbeat timeout it ran with (KNIT_BENCH_HEARTBEAT_TIMEOUT).
 */
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KnitClient } from '../client/knit-client.js';
import { watchContainerStarts } from './lib/container-starts.js';
import { startBenchStack } from './lib/stack.js';

const IMAGE = 'knit-test/busybox:1';
const ROUNDS = Number(process.env['KNIT_BENCH_ROUNDS'] ?? 3);
const HEARTBEAT_TIMEOUT = process.env['KNIT_BENCH_HEARTBEAT_TIMEOUT'] ?? '5s';
/** Only stops a broken round from hanging the bench. */
const ROUND_DEADLINE_MS = 180_000;

async function stop(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  await gone;
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + ROUND_DEADLINE_MS;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(20);
  }
}

async function main(): Promise<void> {
  execFileSync('bash', ['scripts/build-test-image.sh', IMAGE], { stdio: 'inherit' });
  const work = mkdtempSync(join(tmpdir(), 'knit-bench-recovery-'));
  const stack = await startBenchStack(join(work, 'home'), { KNIT_HEARTBEAT_TIMEOUT: HEARTBEAT_TIMEOUT, KNIT_MATCHER_BACKSTOP: '5s' });
  const knit = new KnitClient({ server: stack.api });
  const src = join(work, 'src');
  const tag = `bench:recovery-${process.pid}`;
  const recoveries: number[] = [];
  const extra: ChildProcess[] = [];
  const watcher = watchContainerStarts();
  try {
    // Each round starts with no worker but the one that will hold the step.
    await stop(stack.worker, 'SIGTERM');
    const plan = await knit.applyPlan({ image: IMAGE, entrypoint: ['true'], inputs: [{ path: '/in', tags: [tag] }], outputs: [] }, { yes: true });
    for (let round = 0; round < ROUNDS; round++) {
      const marker = join(work, `held-${round}`);
      const holder = await stack.startWorker({ KNIT_FAULT: 'createContainer:hang', KNIT_FAULT_MARKER: marker });
      extra.push(holder);
      rmSync(src, { recursive: true, force: true });
      execFileSync('mkdir', ['-p', src]);
      writeFileSync(join(src, 'f'), String(round));
      const data = await knit.pushDirectory(src, [tag]);
      await until('the worker to hold createContainer', () => (existsSync(marker) ? true : undefined));
      const runId = await until('the run', async () => (await knit.findRuns({ plans: [plan.plan!.id], inputs: [data.id] }))[0]?.id);
      const other = await stack.startWorker();
      extra.push(other);
      const killedAt = Date.now();
      await stop(holder, 'SIGKILL');
      const startedAt = await until('the container to start on the other worker', () => watcher.starts.get(runId));
      recoveries.push((startedAt - killedAt) / 1000);
      process.stderr.write(`round ${round + 1}: ${((startedAt - killedAt) / 1000).toFixed(2)} s from the kill to the container start\n`);
      await knit.waitRun(runId);
      await stop(other, 'SIGTERM');
    }
  } finally {
    watcher.stop();
    for (const p of extra) await stop(p, 'SIGKILL');
    await stack.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const sorted = [...recoveries].sort((a, b) => a - b);
  const results = {
    bench: 'recovery',
    database: stack.databaseKind,
    heartbeatTimeout: HEARTBEAT_TIMEOUT,
    rounds: recoveries.length,
    recoverySeconds: recoveries,
    minS: sorted[0],
    medianS: sorted[Math.floor(sorted.length / 2)],
    maxS: sorted[sorted.length - 1],
  };
  process.stdout.write(
    [
      `recovery bench (database: ${results.database}, heartbeat timeout ${HEARTBEAT_TIMEOUT}, ${results.rounds} rounds)`,
      `  worker SIGKILLed while it holds createContainer -> that run's container started on the other worker:`,
      `  min ${results.minS!.toFixed(2)} s, median ${results.medianS!.toFixed(2)} s, max ${results.maxS!.toFixed(2)} s (before: the 5-minute step timeout)`,
      JSON.stringify(results),
      '',
    ].join('\n'),
  );
  writeFileSync(new URL('../../bench/last-recovery.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
