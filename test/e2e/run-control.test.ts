import test from 'ava';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { RunDetail } from '../../core/run/model.js';
import { DockerEngine } from '../../executor/docker/engine.js';
import { matchOutbox } from '../../core/run/matching.js';
import { runWorkflowId } from '../../workflows/definitions.js';
import { countContainerCreates } from '../helpers/docker-events.js';
import { runKnit } from '../helpers/cli.js';
import { TestStack, terminal } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

let s: TestStack;
test.before(async () => {
  s = await TestStack.start();
});
test.after.always(() => s?.close());

async function onlyRun(planId: string, until: (r: RunDetail) => boolean, what: string): Promise<RunDetail> {
  const [run] = await s.waitRuns(what, (rs) => rs.length === 1 && until(rs[0]!), { plans: [planId] });
  return run!;
}

async function content(dataId: string, file: string): Promise<string> {
  const dir = await tempDir();
  try {
    const r = await s.client.pullData(dataId, dir.path, { extract: true });
    return await readFile(join(r.path, file), 'utf8');
  } finally {
    await dir.cleanup();
  }
}

/** A run that has written its first epoch to /out/model/weights and keeps running for a minute. */
async function trainingRun(tag: string): Promise<RunDetail> {
  const p = await s.plan({
    script: 'echo epoch-1 > /out/model/weights; sleep 60',
    inputs: [{ path: '/in', tags: [`case:${tag}`] }],
    outputs: [{ path: '/out/model', tags: [`case:${tag}-model`] }],
  });
  await s.push({ a: '1' }, [`case:${tag}`]);
  const running = await onlyRun(p.id, (r) => r.status === 'running', 'the run to run');
  // Give the script a moment to write its first epoch.
  await new Promise((r) => setTimeout(r, 1000));
  return running;
}

async function containerGone(runId: string): Promise<void> {
  await waitFor('its container to go', async () => ((await new DockerEngine().list({ 'knit.run': runId })).length === 0 ? true : undefined));
}

test.serial('a container exiting 3 ends failed with code 3, its log and outputs kept as failed', async (t) => {
  const p = await s.plan({
    script: 'echo partial > /out/o/file; echo to-stdout; echo to-stderr >&2; exit 3',
    inputs: [{ path: '/in/x', tags: ['case:exit3'] }],
    outputs: [{ path: '/out/o', tags: ['case:exit3-out'] }],
    log: { tags: ['case:exit3-log'] },
  });
  await s.push({ a: '1' }, ['case:exit3']);
  const run = await onlyRun(p.id, terminal, 'the failing run to end');
  t.is(run.status, 'failed');
  t.is(run.exitCode, 3);
  t.regex(run.message!, /exited with code 3/);
  const out = await s.client.getData(run.outputs[0]!.dataId!);
  t.true(out.tags.includes('knit#transient:failed'));
  t.is(await content(out.id, 'file'), 'partial\n');
  // Stored raw, as the container wrote it; each line's time and stream beside it, line by line
  // (the two streams' order is the platform's, which may swap lines written at once).
  const raw = (await content(run.log.dataId!, 'log')).split('\n').slice(0, -1);
  const index = (await content(run.log.dataId!, 'log.index')).split('\n').filter((l) => !/^\S+ knit /.test(l) && l !== '');
  t.is(index.length, raw.length);
  for (const l of index) t.regex(l, /^\S+Z (stdout|stderr)$/);
  t.deepEqual(raw.map((text, i) => `${index[i]!.split(' ')[1]} ${text}`).sort(), ['stderr to-stderr', 'stdout to-stdout']);
  t.true((await s.client.getData(run.log.dataId!)).tags.includes('case:exit3-log'));
  // Failed outputs never feed anything.
  const next = await s.plan({ script: 'true', inputs: [{ path: '/in', tags: ['case:exit3-out'] }] });
  await new Promise((r) => setTimeout(r, 1500));
  t.deepEqual(await s.runs({ plans: [next.id] }), []);
});

test.serial('inputs are read-only, outputs start empty and writable, resources become container limits', async (t) => {
  const p = await s.plan({
    script: [
      'cat /in/x/a > /out/o/copy',
      '(touch /in/x/new 2>/dev/null && echo writable || echo read-only) > /out/o/input-mode',
      'ls -A /out/o > /out/o/listing-before-nothing',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null | head -1 > /out/o/memory',
      'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu.max 2>/dev/null | head -1 > /out/o/cpu',
    ].join('; '),
    inputs: [{ path: '/in/x', tags: ['case:mounts'] }],
    outputs: [{ path: '/out/o', tags: ['case:mounts-out'] }],
    resources: { cpu: '500m', memory: '64Mi' },
  });
  await s.push({ a: 'input content' }, ['case:mounts']);
  const run = await onlyRun(p.id, terminal, 'the mounts run to end');
  t.is(run.status, 'done', run.message ?? '');
  const out = run.outputs[0]!.dataId!;
  t.is(await content(out, 'copy'), 'input content');
  t.is(await content(out, 'input-mode'), 'read-only\n');
  t.is(Number((await content(out, 'memory')).trim().split(' ')[0]), 64 * 1024 * 1024);
  t.regex(await content(out, 'cpu'), /^50000\b/);
});

test.serial('an image that is absent and cannot be pulled fails the run quickly and clearly', async (t) => {
  const p = await s.plan({ image: 'knit-test/does-not-exist:404', script: 'true', inputs: [{ path: '/in', tags: ['case:noimage'] }] });
  await s.push({ a: '1' }, ['case:noimage']);
  const run = await onlyRun(p.id, terminal, 'the run with a missing image to end');
  t.is(run.status, 'failed');
  t.regex(run.message!, /image knit-test\/does-not-exist:404 is not on this Docker engine and could not be pulled/);
  t.regex(await content(run.log.dataId!, 'log.index'), /^\S+ knit .*could not be pulled/m);
});

test.serial('a GPU request fails clearly where the Docker engine has no GPU runtime', async (t) => {
  const runtimes = await new DockerEngine().runtimes();
  if (runtimes.includes('nvidia')) return t.pass('this engine has GPUs: nothing to refuse');
  const p = await s.plan({ script: 'true', inputs: [{ path: '/in', tags: ['case:gpu'] }], resources: { 'nvidia.com/gpu': '1' } });
  await s.push({ a: '1' }, ['case:gpu']);
  const run = await onlyRun(p.id, terminal, 'the GPU run to end');
  t.is(run.status, 'failed');
  t.regex(run.message!, /asks for 1 GPU\(s\), but this Docker engine has no GPU runtime/);
});

test.serial('stop keeps what was written and ends done; stop --fail ends failed', async (t) => {
  const p = await s.plan({
    script: 'echo epoch-1 > /out/model/weights; echo started; sleep 60; echo never > /out/model/weights',
    inputs: [{ path: '/in', tags: ['case:stop'] }],
    outputs: [{ path: '/out/model', tags: ['case:stop-model'] }],
  });
  await s.push({ a: '1' }, ['case:stop']);
  await s.push({ a: '2' }, ['case:stop']);
  const running = await s.waitRuns('both runs running', (rs) => rs.length === 2 && rs.every((r) => r.status === 'running'), { plans: [p.id] });
  // Give the script a moment to write its first epoch.
  await new Promise((r) => setTimeout(r, 1000));
  const [keep, abort] = running;
  await s.client.stopRun(keep!.id);
  await s.client.stopRun(abort!.id, { fail: true });
  const kept = await s.client.waitRun(keep!.id);
  t.is(kept.status, 'done');
  // The shell ignores SIGTERM (it is PID 1 and sets no trap): killed after the grace period, yet
  // recorded as exit 0, the stop's and not the work's, as Knitfab records it.
  t.is(kept.exitCode, 0);
  t.is(kept.message, 'stopped by user; its container did not exit on SIGTERM within the stop grace period (KNIT_STOP_GRACE_SECONDS) and was killed (exit 137)');
  t.is(await content(kept.outputs[0]!.dataId!, 'weights'), 'epoch-1\n');
  const aborted = await s.client.waitRun(abort!.id);
  t.is(aborted.status, 'failed');
  t.is(aborted.message, 'stopped by user');
  const err = await t.throwsAsync(s.client.stopRun(keep!.id));
  t.regex(err!.message, /only a run in progress can be stopped/);
});

test.serial('cancelling a run workflow in Temporal fails the run, keeps what it wrote, and stops its container', async (t) => {
  const running = await trainingRun('cancel');
  const handle = s.temporal.workflow.getHandle(runWorkflowId(running.id));
  await handle.cancel();
  const ended = await s.client.waitRun(running.id);
  t.is(ended.status, 'failed');
  t.is(ended.message, 'its workflow was cancelled in Temporal');
  t.is(await content(ended.outputs[0]!.dataId!, 'weights'), 'epoch-1\n');
  const err = await t.throwsAsync(handle.result());
  t.is(err!.name, 'WorkflowFailedError', 'Temporal shows the workflow as cancelled');
  t.is((await handle.describe()).status.name, 'CANCELLED');
  await containerGone(running.id);
});

test.serial('a run whose workflow is terminated in Temporal is finished as failed by the next backstop pass', async (t) => {
  const running = await trainingRun('terminate');
  await s.temporal.workflow.getHandle(runWorkflowId(running.id)).terminate('an operator cleaning up');
  const ended = await s.client.waitRun(running.id, { timeoutMs: 90_000 });
  t.is(ended.status, 'failed');
  t.is(ended.message, 'its workflow was terminated in Temporal');
  t.is(ended.attempt, 1);
  t.is(await content(ended.outputs[0]!.dataId!, 'weights'), 'epoch-1\n');
  await containerGone(running.id);
  // Visibility lags a little behind the executions themselves.
  const executions = await waitFor('visibility to show both executions closed', async () => {
    const names: string[] = [];
    for await (const w of s.temporal.workflow.list({ query: `WorkflowId = '${runWorkflowId(running.id)}'` })) names.push(w.status.name);
    return names.sort().join() === 'COMPLETED,TERMINATED' ? names : undefined;
  });
  t.is(executions.length, 2, 'the terminated one, and the one that finished the run');
});

test.serial('stop --fail of a run whose workflow has not started yet is kept, and the run fails without a container', async (t) => {
  await s.stopWorker();
  const p = await s.plan({ script: 'echo should-not-run', inputs: [{ path: '/in', tags: ['case:early-stop'] }] });
  await s.push({ a: '1' }, ['case:early-stop']);
  // What the matcher does first, without the worker that would start the workflow right after.
  for (;;) if (!(await matchOutbox(s.db.pool)).more) break;
  const [waiting] = await s.runs({ plans: [p.id] });
  t.is(waiting!.status, 'waiting');
  await s.client.stopRun(waiting!.id, { fail: true });
  await s.startWorker();
  const ended = await s.client.waitRun(waiting!.id);
  t.is(ended.status, 'failed');
  t.is(ended.message, 'stopped by user before it started');
  t.is(await countContainerCreates(`knit.run=${waiting!.id}`, Math.floor(Date.now() / 1000) - 120, Math.ceil(Date.now() / 1000) + 1), 0, 'no container was ever created');
});

test.serial('retry makes a new attempt with fresh outputs; rm invalidates a run nothing uses', async (t) => {
  const p = await s.plan({
    script: 'date +%s%N > /out/o/stamp',
    inputs: [{ path: '/in', tags: ['case:retry'] }],
    outputs: [{ path: '/out/o', tags: ['case:retry-out'] }],
  });
  const down = await s.plan({ script: 'cat /in/stamp > /out/o/seen', inputs: [{ path: '/in', tags: ['case:retry-out'] }], outputs: [{ path: '/out/o', tags: ['case:retry-down'] }] });
  await s.push({ a: '1' }, ['case:retry']);
  const first = await onlyRun(p.id, (r) => r.status === 'done', 'the first attempt');
  const downstream = await onlyRun(down.id, (r) => r.status === 'done', 'the downstream run');
  const blocked = await t.throwsAsync(s.client.retryRun(first.id));
  t.regex(blocked!.message, new RegExp(`runs ${downstream.id} take its outputs as input`));
  const rmBlocked = await t.throwsAsync(s.client.removeRun(first.id));
  t.regex(rmBlocked!.message, /remove them first/);

  const removed = await s.client.removeRun(downstream.id);
  t.is(removed.status, 'invalidated');
  await t.throwsAsync(s.client.getData(downstream.outputs[0]!.dataId!), { message: /not found/ });

  const retried = await s.client.retryRun(first.id);
  t.is(retried.attempt, 2);
  t.is(retried.status, 'waiting');
  const second = await s.client.waitRun(first.id);
  t.is(second.status, 'done');
  t.not(second.outputs[0]!.dataId, first.outputs[0]!.dataId, 'fresh outputs');
  await t.throwsAsync(s.client.getData(first.outputs[0]!.dataId!), { message: /not found/ });
  // The new output is new Data, so the downstream plan runs on it; the removed run stays removed.
  const downs = await s.waitRuns('downstream on the fresh output', (rs) => rs.length === 2 && rs.every(terminal), { plans: [down.id] });
  t.deepEqual(downs.map((r) => r.status).sort(), ['done', 'invalidated']);
  t.is(downs.find((r) => r.status === 'done')!.inputs[0]!.dataId, second.outputs[0]!.dataId!);
  const again = await t.throwsAsync(s.client.retryRun(downstream.id));
  t.regex(again!.message, /only a done or failed run can be retried/);
});

test.serial('run log follows a run live, and shows the stored log afterwards', async (t) => {
  const p = await s.plan({ script: 'for i in 1 2 3; do echo line-$i; sleep 1; done; echo oops >&2', inputs: [{ path: '/in', tags: ['case:log'] }] });
  await s.push({ a: '1' }, ['case:log']);
  const [run] = await s.waitRuns('the run to start', (rs) => rs.length === 1 && ['running', 'completing', 'done'].includes(rs[0]!.status), { plans: [p.id] });
  const followed = await runKnit(['run', 'log', '-f', run!.id], { env: { KNIT_SERVER: s.url } });
  t.is(followed.code, 0, followed.stderr);
  const lines = followed.stdout.trim().split('\n');
  t.deepEqual(
    lines.filter((l) => / (stdout|stderr) /.test(l)).map((l) => l.replace(/^\S+ /, '')),
    ['stdout line-1', 'stdout line-2', 'stdout line-3', 'stderr oops'],
  );
  const after = await runKnit(['run', 'log', run!.id], { env: { KNIT_SERVER: s.url } });
  t.regex(after.stdout, /stdout line-1\n.*stdout line-2\n.*stdout line-3\n.*stderr oops/s);
  const wait = await runKnit(['run', 'wait', run!.id], { env: { KNIT_SERVER: s.url } });
  t.is(wait.code, 0);
});

test.serial('no container or workspace is left once runs have ended', async (t) => {
  await waitFor('every run to end', async () => (await s.runs()).every(terminal));
  const docker = new DockerEngine();
  const left = await docker.list({ 'knit.instance': s.instance });
  t.deepEqual(left.map((c) => c.name), []);
  const { readdir } = await import('node:fs/promises');
  t.deepEqual(await readdir(join(s.home, 'work', s.instance)).catch(() => []), []);
});
