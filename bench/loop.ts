/**
 * The core loop, measured on the local stack (Docker, Temporal dev server, PostgreSQL from
 * DATABASE_URL or embedded PGlite), each figure against its baseline measured in the same run
 * (targets of issue 11):
 *   - trigger latency: push response to container start, p50/p95 over 50 pushes (target p50 <= 0.3 s, p95 <= 0.6 s);
 *   - per-run overhead: push to output registered for a trivial run, against `docker run --rm`
 *     of the same image (target <= 1.5x);
 *   - matching scale: an inactive plan with 2 inputs over 300 x 300 Data creates 90,000 runs
 *     (target <= 5 s), with the API's and the worker's memory;
 *   - throughput: 200 trivial runs at the configured concurrency, against 200 bare
 *     `docker run --rm` at the same parallelism (target >= 0.8x), and against the engine floor:
 *     the Docker calls knit makes for those runs, made alone (bench/lib/engine-floor.ts).
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultConcurrentRuns } from '../core/config/config.js';
import { DockerEngine } from '../executor/docker/engine.js';
import { KnitClient } from '../client/knit-client.js';
import { watchContainerStarts } from './lib/container-starts.js';
import { peakRss } from './lib/proc.js';
import { startBenchStack } from './lib/stack.js';
import { formatRoundTrips, perRunRoundTrips } from './lib/round-trips.js';
import { formatRunTrace, traceRun } from './lib/run-trace.js';
import { engineFloorThroughput } from './lib/engine-floor.js';
import { cpuBetween, cpuSnapshot, formatCpu } from './lib/cpu.js';
import { runWorkflowId } from '../workflows/definitions.js';
import { Client, Connection } from '@temporalio/client';

const IMAGE = 'knit-test/busybox:1';
// The worker's own default unless the environment says otherwise; the bare baseline runs at the same.
const CONCURRENCY = process.env['KNIT_MAX_CONCURRENT_RUNS'] ?? String(defaultConcurrentRuns());
const SCALE = Number(process.env['KNIT_BENCH_SCALE'] ?? 300);

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
const median = (xs: number[]) => quantile(xs, 0.5);

async function main(): Promise<void> {
  execFileSync('bash', ['scripts/build-test-image.sh', IMAGE], { stdio: 'inherit' });
  const work = mkdtempSync(join(tmpdir(), 'knit-bench-loop-'));
  const stack = await startBenchStack(join(work, 'home'), { KNIT_MAX_CONCURRENT_RUNS: CONCURRENCY });
  const knit = new KnitClient({ server: stack.api });
  const src = join(work, 'src');
  const push = async (tags: string[], content: string) => {
    rmSync(src, { recursive: true, force: true });
    execFileSync('mkdir', ['-p', src]);
    writeFileSync(join(src, 'f'), content);
    return knit.pushDirectory(src, tags);
  };
  // Tags unique to this bench run: a database kept from an earlier run holds equivalent plans and matching Data.
  const benchTag = (name: string) => `bench:${name}-${process.pid}`;
  const plan = (tag: string, active = true, inputs = [{ path: '/in', tags: [tag] }]) =>
    knit.applyPlan({ image: IMAGE, entrypoint: ['true'], inputs, outputs: [{ path: '/out', tags: [`${tag}-out`] }], active }, { yes: true });
  let breakdown = '';
  let cpuLines = '';
  const results: Record<string, unknown> = { bench: 'loop', database: stack.databaseKind, concurrency: Number(CONCURRENCY) };
  try {
    // Warm-up: the first run pays for caches everywhere.
    const warm = await plan(benchTag('warm'));
    await push([benchTag('warm')], 'w');
    for (;;) {
      const [r] = await knit.findRuns({ plans: [warm.plan!.id] });
      if (r && (r.status === 'done' || r.status === 'failed')) break;
      await sleep(100);
    }

    // Trigger latency, one push at a time.
    const lat = await plan(benchTag('latency'));
    const pushedAt = new Map<string, number>();
    const watcher = watchContainerStarts();
    await sleep(200);
    for (let i = 0; i < 50; i++) {
      const d = await push([benchTag('latency')], String(i));
      pushedAt.set(d.id, Date.now());
      const run = await waitForRunOn(knit, lat.plan!.id, d.id);
      await knit.waitRun(run);
    }
    watcher.stop();
    const starts = watcher.starts;
    const latencies: number[] = [];
    for (const r of await knit.findRuns({ plans: [lat.plan!.id] })) {
      const started = starts.get(r.id);
      const pushed = pushedAt.get(r.inputs[0]!.dataId);
      if (started !== undefined && pushed !== undefined) latencies.push((started - pushed) / 1000);
    }
    results['triggerLatencyP50s'] = median(latencies);
    results['triggerLatencyP95s'] = quantile(latencies, 0.95);
    results['triggerSamples'] = latencies.length;

    // Per-run overhead: push to output registered, against a bare docker run.
    const docker = new DockerEngine();
    const instance = `bench${process.pid}`;
    const over = await plan(benchTag('overhead'));
    const e2e: number[] = [];
    const bare: number[] = [];
    let traced = { runId: '', pushedAt: 0, pushS: 0 };
    const trips0 = await stack.workerRoundTrips();
    for (let i = 0; i < 10; i++) {
      const t0 = Date.now();
      const d = await push([benchTag('overhead')], String(i));
      const pushS = (Date.now() - t0) / 1000;
      const run = await knit.waitRun(await waitForRunOn(knit, over.plan!.id, d.id));
      e2e.push((Date.parse(run.finishedAt!) - t0) / 1000);
      traced = { runId: run.id, pushedAt: t0, pushS };
      // Let the run's cleanup finish, so it does not share the engine with the bare run.
      while ((await docker.list({ 'knit.instance': instance })).length > 0) await sleep(20);
      const b0 = process.hrtime.bigint();
      spawnSync('docker', ['run', '--rm', IMAGE, 'true']);
      bare.push(Number(process.hrtime.bigint() - b0) / 1e9);
    }
    const perRun = perRunRoundTrips(trips0, await stack.workerRoundTrips(), e2e.length);
    results['roundTripsPerRun'] = perRun;
    results['runEndToEndS'] = median(e2e);
    results['dockerRunRmS'] = median(bare);
    results['overheadRatio'] = median(e2e) / median(bare);
    // The last of those runs, step by step: where the overhead goes.
    const connection = await Connection.connect({ address: stack.temporalAddress });
    try {
      const temporal = new Client({ connection });
      const trace = await traceRun(temporal, traced.runId);
      const described = await temporal.workflow.getHandle(runWorkflowId(traced.runId)).describe().catch(() => undefined);
      const matchedS = described ? (described.startTime.getTime() - traced.pushedAt) / 1000 : NaN;
      breakdown = [
        `  push ${Math.round(traced.pushS * 1000)} ms; push start → run workflow started ${Math.round(matchedS * 1000)} ms (outbox, matcher, reconcile)`,
        formatRunTrace(trace),
        formatRoundTrips(perRun),
      ].join('\n');
      results['runTrace'] = { pushS: traced.pushS, matchedS, ...trace };
    } finally {
      await connection.close();
    }

    // Throughput: 200 trivial runs queued at once.
    const tp = await plan(benchTag('throughput'), false);
    for (let i = 0; i < 200; i++) await push([benchTag('throughput')], String(i));
    await waitCount(stack.pool, tp.plan!.id, 200, "status = 'deactivated'");
    const tp0 = Date.now();
    const cpu0 = cpuSnapshot();
    await knit.setPlanActive(tp.plan!.id, true);
    await waitCount(stack.pool, tp.plan!.id, 200, "status IN ('done', 'failed')");
    const tpSeconds = (Date.now() - tp0) / 1000;
    const knitCpu = cpuBetween(cpu0, cpuSnapshot(), { [stack.knitd.pid!]: 'knitd', [stack.worker.pid!]: 'worker', [process.pid]: 'bench' });
    results['throughputRuns'] = 200;
    results['throughputSeconds'] = tpSeconds;
    results['runsPerSecond'] = 200 / tpSeconds;
    results['bareRunsPerSecond'] = await bareThroughput(200, Number(CONCURRENCY));
    results['throughputRatio'] = results['runsPerSecond'] as number / (results['bareRunsPerSecond'] as number);
    const floor0 = cpuSnapshot();
    const floorT0 = Date.now();
    results['engineFloorRunsPerSecond'] = await engineFloorThroughput(IMAGE, 200, Number(CONCURRENCY));
    const floorCpu = cpuBetween(floor0, cpuSnapshot(), { [process.pid]: 'bench' });
    cpuLines = [formatCpu('knit running 200 runs', tpSeconds, knitCpu), formatCpu('the engine floor, 200 runs', (Date.now() - floorT0) / 1000, floorCpu)].join('\n');
    results['cpu'] = { knit: knitCpu, engineFloor: floorCpu };
    results['throughputVsEngineFloor'] = results['runsPerSecond'] as number / (results['engineFloorRunsPerSecond'] as number);

    // Matching scale: an inactive plan over SCALE x SCALE Data.
    process.stderr.write(`pushing ${2 * SCALE} Data for the matching-scale bench…\n`);
    for (let i = 0; i < SCALE; i++) {
      await push([benchTag('scale-x')], `x${i}`);
      await push([benchTag('scale-y')], `y${i}`);
    }
    const m0 = Date.now();
    const scale = await knit.applyPlan(
      {
        image: IMAGE,
        entrypoint: ['true'],
        inputs: [
          { path: '/x', tags: [benchTag('scale-x')] },
          { path: '/y', tags: [benchTag('scale-y')] },
        ],
        active: false,
      },
      { yes: true },
    );
    await waitCount(stack.pool, scale.plan!.id, SCALE * SCALE, 'TRUE');
    results['matchingRuns'] = SCALE * SCALE;
    results['matchingSeconds'] = (Date.now() - m0) / 1000;
    results['apiPeakRssMB'] = (peakRss(stack.knitd.pid!) ?? 0) / 1e6;
    results['workerPeakRssMB'] = (peakRss(stack.worker.pid!) ?? 0) / 1e6;
  } finally {
    await stack.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const r = results as Record<string, number>;
  const ok = (pass: boolean) => (pass ? 'ok ' : 'MISS');
  process.stdout.write(
    [
      `loop bench (database: ${results['database']}, ${CONCURRENCY} containers at once)`,
      `  trigger latency   p50 ${r['triggerLatencyP50s']!.toFixed(3)} s, p95 ${r['triggerLatencyP95s']!.toFixed(3)} s over ${r['triggerSamples']} pushes   [${ok(r['triggerLatencyP50s']! <= 0.3 && r['triggerLatencyP95s']! <= 0.6)}] target p50 <= 0.3 s, p95 <= 0.6 s`,
      `  per-run overhead  ${r['runEndToEndS']!.toFixed(3)} s push-to-output vs ${r['dockerRunRmS']!.toFixed(3)} s docker run --rm = ${r['overheadRatio']!.toFixed(2)}x   [${ok(r['overheadRatio']! <= 1.5)}] target <= 1.5x`,
      `  matching scale    ${r['matchingRuns']} runs in ${r['matchingSeconds']!.toFixed(2)} s   [${ok(r['matchingSeconds']! <= 5)}] target <= 5 s; peak RSS API ${r['apiPeakRssMB']!.toFixed(0)} MB, worker ${r['workerPeakRssMB']!.toFixed(0)} MB`,
      `  throughput        ${r['throughputRuns']} runs in ${r['throughputSeconds']!.toFixed(1)} s = ${r['runsPerSecond']!.toFixed(2)} runs/s vs bare docker run --rm at ${CONCURRENCY} at once ${r['bareRunsPerSecond']!.toFixed(2)} runs/s = ${r['throughputRatio']!.toFixed(2)}x   [${ok(r['throughputRatio']! >= 0.8)}] target >= 0.8x`,
      `  engine floor      knit's own Docker calls for the same runs, nothing else around them: ${r['engineFloorRunsPerSecond']!.toFixed(2)} runs/s = ${(r['engineFloorRunsPerSecond']! / r['bareRunsPerSecond']!).toFixed(2)}x bare; knit reaches ${r['throughputVsEngineFloor']!.toFixed(2)}x of it`,
      cpuLines,
      breakdown,
      JSON.stringify(results),
      '',
    ].join('\n'),
  );
  writeFileSync(new URL('../../bench/last-loop.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
}

/** Runs per second of `n` bare `docker run --rm` of the trivial run, `parallel` at a time: the engine's own throughput. */
async function bareThroughput(n: number, parallel: number): Promise<number> {
  const run = promisify(execFile);
  let next = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        next++;
        await run('docker', ['run', '--rm', IMAGE, 'true']);
      }
    }),
  );
  return n / ((Date.now() - t0) / 1000);
}

async function waitForRunOn(knit: KnitClient, planId: string, dataId: string): Promise<string> {
  for (;;) {
    const [r] = await knit.findRuns({ plans: [planId], inputs: [dataId] });
    if (r) return r.id;
    await sleep(20);
  }
}

async function waitCount(pool: import('../core/db/pool.js').Pool, planId: string, n: number, where: string): Promise<void> {
  for (;;) {
    const r = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM run WHERE plan_id = $1 AND ${where}`, [planId]);
    if (r.rows[0]!.n >= n) return;
    await sleep(100);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
