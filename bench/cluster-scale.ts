/**
 * knit deployed by its own manifests (k8s/overlays/ci, through test/helpers/deployment.ts) on
 * the dev cluster: runs per second with 1, 2 and 3 worker replicas. One deployment (one knitd),
 * scaled between rounds; each round pushes ROUND tiny Data for one trivial plan and times the
 * first push to the last of their runs done. Each worker runs PER_WORKER Runs at once, so
 * capacity grows with the replicas until the node itself (2 cores here) is the limit.
 * Needs DATABASE_URL (PostgreSQL), TEMPORAL_ADDRESS, the knit image in the cluster
 * (scripts/build-knit-image.sh) and KNIT_TEST_KUBECONFIG (default: the dev cluster's).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KnitClient } from '../client/knit-client.js';
import { deployKnit } from '../test/helpers/deployment.js';

const ROUND = Number(process.env['KNIT_BENCH_ROUND'] ?? 24);
const PER_WORKER = 2;
const REPLICAS = [1, 2, 3];
const ROUND_TIMEOUT_MS = 10 * 60_000;
const DEV_KUBECONFIG = '/var/lib/knit-k8s/kubeconfig/admin.conf';

async function main(): Promise<void> {
  process.env['KNIT_TEST_KUBECONFIG'] ??= DEV_KUBECONFIG;
  const d = await deployKnit({ knitd: 1, workers: REPLICAS[0]!, concurrency: PER_WORKER });
  const work = mkdtempSync(join(tmpdir(), 'knit-bench-scale-'));
  const rows: Array<{ workers: number; runs: number; seconds: number; runsPerSecond: number }> = [];
  try {
    const knit = new KnitClient({ server: d.url, token: d.token });
    const plan = (
      await knit.applyPlan({
        image: 'knit-test/busybox:1',
        entrypoint: ['sh', '-c'],
        args: ['cat /in/x/n > /out/y/n'],
        inputs: [{ path: '/in/x', tags: ['bench:scale'] }],
        outputs: [{ path: '/out/y', tags: ['bench:scaled'] }],
        resources: { cpu: '0.05', memory: '32Mi' },
      })
    ).plan!.id;
    let seen = 0;
    for (const workers of REPLICAS) {
      await d.kubectl(['scale', 'deployment/knit-worker', `--replicas=${workers}`]);
      await d.kubectl(['rollout', 'status', 'deployment/knit-worker', '--timeout=180s']);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < ROUND; i++) {
        const dir = join(work, `${workers}-${i}`);
        mkdirSync(dir);
        writeFileSync(join(dir, 'n'), `${workers}-${i}\n`);
        await knit.pushDirectory(dir, ['bench:scale']);
      }
      const want = seen + ROUND;
      const deadline = Date.now() + ROUND_TIMEOUT_MS;
      for (;;) {
        const runs = await knit.findRuns({ plans: [plan] });
        const failed = runs.filter((r) => r.status === 'failed');
        if (failed.length > 0) throw new Error(`${failed.length} runs failed: ${failed[0]!.message}`);
        if (runs.filter((r) => r.status === 'done').length >= want) break;
        if (Date.now() > deadline) throw new Error(`round with ${workers} workers: ${runs.length} runs after ${ROUND_TIMEOUT_MS / 1000} s\n${await d.diagnostics()}`);
        await sleep(250);
      }
      seen = want;
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      rows.push({ workers, runs: ROUND, seconds: Math.round(seconds * 10) / 10, runsPerSecond: Math.round((ROUND / seconds) * 1000) / 1000 });
      process.stderr.write(`  ${workers} worker(s): ${ROUND} runs in ${seconds.toFixed(1)} s\n`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
    await d.close();
  }
  console.log('| worker replicas | runs at once (max) | runs | seconds | runs/s |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.workers} | ${r.workers * PER_WORKER} | ${r.runs} | ${r.seconds} | ${r.runsPerSecond} |`);
  console.log(JSON.stringify({ bench: 'cluster-scale', perWorker: PER_WORKER, rows }));
}

await main();
