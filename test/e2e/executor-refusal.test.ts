import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerEngine } from '../../executor/docker/engine.js';
import type { RunDetail } from '../../core/run/model.js';
import { runWorkflowId } from '../../workflows/definitions.js';
import { TestStack, terminal } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * What the executor cannot do is a permanent failure with its reason, told once: not an
 * activity retried 20 times over minutes. The API here lets a plan ask for far more than this
 * host has (as an API that does not run on the execution host would), so the worker must refuse.
 */
let s: TestStack;
test.before(async () => {
  s = await TestStack.start({ resourceBounds: { maxCpu: 1_000_000, maxMemory: 2 ** 60 } });
});
test.after.always(() => s?.close());

async function failedRun(tag: string, resources: Record<string, string>): Promise<RunDetail> {
  const p = await s.plan({ script: 'true', inputs: [{ path: '/in', tags: [`case:${tag}`] }], resources });
  await s.push({ a: '1' }, [`case:${tag}`]);
  const [run] = await s.waitRuns(`the ${tag} run to end`, (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [p.id] }, 60_000);
  return run!;
}

/**
 * How many tries each activity of the run's workflow took. Without hooks, creating and running
 * the container are parts of one activity, prepareAndRunContainer (activities/combined-steps.ts).
 */
async function attemptsOf(runId: string): Promise<Map<string, number>> {
  const history = await s.temporal.workflow.getHandle(runWorkflowId(runId)).fetchHistory();
  const types = new Map<number, string>();
  const attempts = new Map<string, number>();
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) types.set(Number(e.eventId), scheduled.activityType?.name ?? '?');
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const name = types.get(Number(started.scheduledEventId)) ?? '?';
      attempts.set(name, Math.max(attempts.get(name) ?? 0, started.attempt ?? 0));
    }
  }
  return attempts;
}

async function log(run: RunDetail): Promise<string> {
  const dir = await tempDir();
  try {
    const r = await s.client.pullData(run.log.dataId!, dir.path, { extract: true });
    // knit's notes (why it refused) sit in the index beside the container's raw output.
    return await readFile(join(r.path, 'log.index'), 'utf8');
  } finally {
    await dir.cleanup();
  }
}

test.serial('a plan asking more memory than the Docker host has fails its run at once, with the reason', async (t) => {
  const host = await new DockerEngine().info();
  const run = await failedRun('memory', { memory: '64Pi' });
  t.is(run.status, 'failed');
  t.regex(run.message!, new RegExp(`resources\\.memory: the plan asks for 64Pi, but this Docker engine's host has ${host.memoryBytes} bytes`));
  t.regex(await log(run), /resources\.memory: the plan asks for 64Pi/);
  t.is((await attemptsOf(run.id)).get('prepareAndRunContainer'), 1, 'refused once, not retried');
  t.deepEqual(await new DockerEngine().list({ 'knit.run': run.id }), [], 'no container was made');
});

test.serial('a plan asking more cores than the Docker host has fails its run at once, with the reason', async (t) => {
  const host = await new DockerEngine().info();
  const run = await failedRun('cpu', { cpu: String(host.cpus * 1000) });
  t.is(run.status, 'failed');
  t.regex(run.message!, new RegExp(`resources\\.cpu: the plan asks for ${host.cpus * 1000} cores, but this Docker engine's host has ${host.cpus}`));
  t.is((await attemptsOf(run.id)).get('prepareAndRunContainer'), 1);
});

test.serial("a container Docker refuses to start fails its run at once, with Docker's message", async (t) => {
  const p = await s.client.applyPlan({ image: 'knit-test/busybox:1', entrypoint: ['/no/such/program'], inputs: [{ path: '/in', tags: ['case:noexec'] }] });
  await s.push({ a: '1' }, ['case:noexec']);
  const [run] = await s.waitRuns('the unstartable run to end', (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [p.plan!.id] }, 60_000);
  t.is(run!.status, 'failed');
  t.regex(run!.message!, /the container could not be started: .*\/no\/such\/program/);
  t.regex(await log(run!), /could not be started/);
  t.is((await attemptsOf(run!.id)).get('prepareAndRunContainer'), 1, 'refused once, not retried');
});
