/**
 * Data throughput: push and pull a 1 GiB directory of mixed file sizes through the real CLI and
 * API on local storage, against `tar -c | tar -x` on the same disk, and against that with `sync`
 * after it: a push is durable before its 201, and tar alone leaves its files in the page cache.
 * Targets: push and pull each >= 0.7x the baseline (issue 11); API and CLI peak RSS <= 200 MB.
 * Then the push stage by stage (bench/lib/push-breakdown.ts).
 */
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync, openSync, writeSync, closeSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { databaseAt } from '../core/db/embedded.js';
import { peakRss, timed } from './lib/proc.js';
import { formatPushBreakdown, pushBreakdown } from './lib/push-breakdown.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const MiB = 1 << 20;
const TARGET_RATIO = 0.7;
const TARGET_RSS = 200 * 1e6;
const ROUNDS = Number(process.env['KNIT_BENCH_ROUNDS'] ?? 3);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** 1 GiB: one large file, some medium, many small, in nested folders. Random, so incompressible. */
const LAYOUT: Array<{ count: number; bytes: number; dir: string }> = [
  { count: 1, bytes: 384 * MiB, dir: 'large' },
  { count: 12, bytes: 32 * MiB, dir: 'medium' },
  { count: 192, bytes: 1 * MiB, dir: 'small/batch' },
  { count: 3072, bytes: 24 * 1024, dir: 'tiny/shard' },
];

function makeTree(dir: string): number {
  let total = 0;
  const chunk = randomBytes(4 * MiB);
  for (const { count, bytes, dir: sub } of LAYOUT) {
    for (let i = 0; i < count; i++) {
      const folder = join(dir, `${sub}-${Math.floor(i / 256)}`);
      mkdirSync(folder, { recursive: true });
      const fd = openSync(join(folder, `f${i}.bin`), 'w');
      let left = bytes;
      // Vary the content per file so no two files are equal.
      const salt = randomBytes(16);
      writeSync(fd, salt);
      left -= salt.length;
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        writeSync(fd, chunk, (i * 7919) % (chunk.length - n + 1), n);
        left -= n;
      }
      closeSync(fd);
      total += bytes;
    }
  }
  return total;
}

function countFiles(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const sub = countFiles(p);
      files += sub.files;
      bytes += sub.bytes;
    } else {
      files++;
      bytes += statSync(p).size;
    }
  }
  return { files, bytes };
}

const sync = () => execFileSync('sync');
const mb = (bytes: number) => (bytes / 1e6).toFixed(0);

async function main(): Promise<void> {
  const work = join(process.env['KNIT_BENCH_DIR'] ?? tmpdir(), `knit-bench-data-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const src = join(work, 'src');
    process.stderr.write(`generating ${LAYOUT.reduce((n, l) => n + l.count, 0)} files of mixed sizes in ${src}…\n`);
    const bytes = makeTree(src);

    const baseline = async () => {
      const out = join(work, 'baseline');
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out);
      sync();
      const r = await timed('bash', ['-c', `tar -C '${src}' -cf - . | tar -x -C '${out}' -f -`]);
      if (r.code !== 0) throw new Error(`baseline tar failed: ${r.stderr}`);
      // What tar leaves in the page cache, written to disk: a push answers 201 only once its
      // archive is durable, so this is the baseline that does the same work.
      const flushed = await timed('sync', ['-f', out]);
      rmSync(out, { recursive: true, force: true });
      return { ...r, durableSeconds: r.seconds + flushed.seconds };
    };

    // As under `knit up`, an embedded database lives in its own process (here, this one), so the
    // API's memory is the API's alone.
    const database = await databaseAt(process.env['DATABASE_URL'] || undefined, join(work, 'pgdata'));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: database.url,
      KNIT_HOME: join(work, 'home'),
      KNIT_LISTEN: '127.0.0.1:0',
      KNIT_LOG_LEVEL: 'warn',
    };
    const knitd = spawn(process.execPath, [join(root, 'bin/knitd.js')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: knitd.stdout! }).on('line', (l) => {
        const m = /^knitd listening on (\S+)/.exec(l);
        if (m) resolve(m[1]!);
      });
      knitd.once('exit', (c) => reject(new Error(`knitd exited (${c})`)));
    });
    const cliEnv = { ...process.env, KNIT_SERVER: url, KNIT_HOME: join(work, 'cli') };
    try {
      // This disk's speed drifts from run to run, so each measurement is taken ROUNDS times,
      // interleaved with the baseline, and the medians are compared.
      const rounds: Array<{ base: number; durable: number; push: number; pull: number; pushRss: number; pullRss: number }> = [];
      let dest = '';
      let id = '';
      for (let round = 0; round < ROUNDS; round++) {
        const base = await baseline();
        sync();
        const push = await timed(process.execPath, [join(root, 'bin/knit.js'), 'data', 'push', '-t', 'bench:data', src], cliEnv);
        if (push.code !== 0) throw new Error(`push failed: ${push.stderr}`);
        id = (JSON.parse(push.stdout) as { id: string }).id;
        dest = join(work, `pulled-${round}`);
        sync();
        const pull = await timed(process.execPath, [join(root, 'bin/knit.js'), 'data', 'pull', '-x', id, dest], cliEnv);
        if (pull.code !== 0) throw new Error(`pull failed: ${pull.stderr}`);
        rounds.push({ base: base.seconds, durable: base.durableSeconds, push: push.seconds, pull: pull.seconds, pushRss: push.peakRssBytes, pullRss: pull.peakRssBytes });
        process.stderr.write(`  round ${round + 1}: baseline ${base.seconds.toFixed(2)} s (${base.durableSeconds.toFixed(2)} s with sync), push ${push.seconds.toFixed(2)} s, pull ${pull.seconds.toFixed(2)} s\n`);
        if (round < ROUNDS - 1) rmSync(dest, { recursive: true, force: true });
      }
      const apiPeak = peakRss(knitd.pid!) ?? 0;
      const baselineS = median(rounds.map((r) => r.base));
      const durableS = median(rounds.map((r) => r.durable));
      const pushS = median(rounds.map((r) => r.push));
      const pullS = median(rounds.map((r) => r.pull));
      const pushRss = Math.max(...rounds.map((r) => r.pushRss));
      const pullRss = Math.max(...rounds.map((r) => r.pullRss));

      const back = countFiles(join(dest, id));
      const orig = countFiles(src);
      if (back.files !== orig.files || back.bytes !== orig.bytes) throw new Error(`pulled tree differs: ${JSON.stringify(back)} vs ${JSON.stringify(orig)}`);

      const breakdown = await pushBreakdown(src, work);
      const rate = (s: number) => bytes / s / 1e6;
      const result = {
        bench: 'data',
        bytes,
        files: orig.files,
        rounds: ROUNDS,
        baselineMBps: rate(baselineS),
        durableBaselineMBps: rate(durableS),
        pushMBps: rate(pushS),
        pullMBps: rate(pullS),
        pushRatio: baselineS / pushS,
        pushRatioDurable: durableS / pushS,
        pullRatio: baselineS / pullS,
        apiPeakRssMB: apiPeak / 1e6,
        cliPushPeakRssMB: pushRss / 1e6,
        cliPullPeakRssMB: pullRss / 1e6,
        pushBreakdownS: breakdown,
      };
      const ok = (pass: boolean) => (pass ? 'ok ' : 'MISS');
      const lines = [
        `data bench: ${mb(bytes)} MB in ${orig.files} files (database: ${process.env['DATABASE_URL'] ? 'PostgreSQL' : 'embedded PGlite'})`,
        `  (medians of ${ROUNDS} interleaved rounds)`,
        `  baseline tar|tar  ${result.baselineMBps.toFixed(0).padStart(5)} MB/s  (${baselineS.toFixed(2)} s)`,
        `  baseline + sync   ${result.durableBaselineMBps.toFixed(0).padStart(5)} MB/s  (${durableS.toFixed(2)} s)  the same files made durable, as a push's 201 promises`,
        `  push              ${result.pushMBps.toFixed(0).padStart(5)} MB/s  (${pushS.toFixed(2)} s)  ${result.pushRatio.toFixed(2)}x baseline  [${ok(result.pushRatio >= TARGET_RATIO)}] target >= ${TARGET_RATIO}x; ${result.pushRatioDurable.toFixed(2)}x baseline + sync`,
        `  pull -x           ${result.pullMBps.toFixed(0).padStart(5)} MB/s  (${pullS.toFixed(2)} s)  ${result.pullRatio.toFixed(2)}x baseline  [${ok(result.pullRatio >= TARGET_RATIO)}] target >= ${TARGET_RATIO}x`,
        `  API peak RSS      ${result.apiPeakRssMB.toFixed(0).padStart(5)} MB   [${ok(apiPeak <= TARGET_RSS)}] target <= 200 MB`,
        `  CLI peak RSS      ${result.cliPushPeakRssMB.toFixed(0).padStart(5)} MB push, ${result.cliPullPeakRssMB.toFixed(0)} MB pull   [${ok(Math.max(pushRss, pullRss) <= TARGET_RSS)}] target <= 200 MB`,
      ];
      lines.push(formatPushBreakdown(breakdown, pushS, bytes));
      process.stdout.write(`${lines.join('\n')}\n${JSON.stringify(result)}\n`);
      writeFileSync(join(root, 'bench', 'last-data.json'), `${JSON.stringify(result, null, 2)}\n`);
    } finally {
      knitd.kill('SIGTERM');
      await new Promise((r) => knitd.once('exit', r));
      await database.stop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
