import test from 'ava';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { KnitClient } from '../../client/knit-client.js';
import { removeInstanceContainers } from '../helpers/containers.js';
import { applyChain, assertChainExactlyOnce, pushChainInput } from '../helpers/chain.js';
import { watchContainerCreates } from '../helpers/docker-events.js';
import { freePort } from '../helpers/free-port.js';
import { startKnitUp } from '../helpers/knit-up.js';
import { startPrivateTemporal } from '../helpers/private-temporal.js';
import { childProcesses } from '../helpers/proc.js';
import { TestStack, terminal } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const PUSHES = 4;

/**
 * The Temporal server SIGKILLed while runs are in flight, then started again on the same port
 * and SQLite file (as an operator or a supervisor would): every run completes, once. The dev
 * server is the test's own; the shared one is never touched.
 */
test.serial('Temporal killed and restarted mid-run, as a separate process: every run completes exactly once', async (t) => {
  t.timeout(5 * 60_000);
  const temporal = await startPrivateTemporal();
  t.teardown(() => temporal.destroy());
  const s = await TestStack.start({ temporalAddress: temporal.address, workerEnv: { KNIT_HEARTBEAT_TIMEOUT: '4s', KNIT_STEP_TIMEOUT: '10s' } });
  t.teardown(() => s.close());
  t.teardown(() => removeInstanceContainers(s.instance));
  const creates = watchContainerCreates(`knit.instance=${s.instance}`, 'knit.run');
  t.teardown(() => void creates.stop());
  await creates.ready;
  const chain = await applyChain(s.client, 'tkill', { sleepA: 3 });
  const pushed: string[] = [];
  for (let i = 0; i < PUSHES - 1; i++) pushed.push(await pushChainInput(s.client, chain, i));
  await s.waitRuns('an A-run to run', (rs) => rs.some((r) => r.status === 'running'), { plans: [chain.a.id] });
  const workerPid = s.worker!.pid;

  await temporal.kill();
  // A change while Temporal is down is stored; the matcher's outbox cursor picks it up later.
  pushed.push(await pushChainInput(s.client, chain, PUSHES - 1));
  await sleep(3000);
  await temporal.start();

  await s.waitRuns('every run to end', (rs) => rs.length === 2 * PUSHES && rs.every(terminal), { plans: [chain.a.id, chain.b.id] }, 180_000);
  t.is(s.worker?.pid, workerPid, 'the worker rode out the outage');
  t.is(s.worker?.exitCode, null);
  await assertChainExactlyOnce(t, s, chain, pushed, creates);
});

test.serial('Temporal killed mid-run under knit up: knit up restarts it and every run completes', async (t) => {
  t.timeout(5 * 60_000);
  const home = await tempDir('knit-up-chaos-');
  t.teardown(home.cleanup);
  const ports = { api: await freePort(), temporal: await freePort(), ui: await freePort() };
  // Its own instance name, so that its containers are told apart from other knit ups' (and removed).
  const instance = `up${randomBytes(4).toString('hex')}`;
  t.teardown(() => removeInstanceContainers(instance));
  const up = await startKnitUp(home.path, ports, { instance });
  t.teardown(async () => {
    if (up.child.exitCode === null) {
      up.child.kill('SIGINT');
      await Promise.race([up.exited, sleep(30_000)]);
    }
    if (up.child.exitCode === null) up.child.kill('SIGKILL');
  });
  const client = new KnitClient({ server: up.api });
  const chain = await applyChain(client, 'upkill', { sleepA: 3 });
  for (let i = 0; i < PUSHES; i++) await pushChainInput(client, chain, i);
  await waitFor('an A-run to run', async () => (await client.findRuns({ plans: [chain.a.id] })).some((r) => r.status === 'running'), 120_000, 200);

  const [dev] = childProcesses(up.child.pid!, 'start-dev');
  t.truthy(dev, 'the Temporal dev server is a child of knit up');
  process.kill(dev!, 'SIGKILL');

  const runs = await waitFor(
    'every run to end',
    async () => {
      if (up.child.exitCode !== null) return 'knit up exited';
      const rs = await client.findRuns({ plans: [chain.a.id, chain.b.id] });
      return rs.length === 2 * PUSHES && rs.every(terminal) ? rs : undefined;
    },
    180_000,
    500,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nknit up stderr:\n${up.stderr().slice(-3000)}`);
  });
  if (runs === 'knit up exited') throw new Error(`knit up exited (${up.child.exitCode}) after its Temporal dev server was killed:\n${up.stderr().slice(-3000)}`);
  t.is(up.child.exitCode, null, 'knit up kept running');
  t.deepEqual(runs.filter((r) => r.status !== 'done').map((r) => `${r.id} ${r.status} ${r.message ?? ''}`), []);
  t.is(new Set(runs.map((r) => `${r.plan.id}/${r.inputs.map((i) => i.dataId).join(',')}`)).size, runs.length, 'no duplicate run');
  const restarted = childProcesses(up.child.pid!, 'start-dev');
  t.is(restarted.length, 1, 'one dev server again');
  t.not(restarted[0], dev);
});
