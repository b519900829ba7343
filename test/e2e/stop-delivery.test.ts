import test from 'ava';
import { createServer } from 'node:net';
import { DockerEngine } from '../../executor/docker/engine.js';
import { honourRecordedStop } from '../../core/run/attempt.js';
import type { RunDetail } from '../../core/run/model.js';
import { runKnit } from '../helpers/cli.js';
import { TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/** A port nothing listens on: an API pointed there cannot reach Temporal at all. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

// The API cannot reach Temporal; the worker (and so the matcher) can.
let s: TestStack;
test.before(async () => {
  s = await TestStack.start({ apiTemporalAddress: `127.0.0.1:${await closedPort()}` });
});
test.after.always(() => s?.close());

/** A run whose container writes a first epoch, then would sleep for a minute. */
async function trainingRun(tag: string): Promise<RunDetail> {
  const p = await s.plan({
    script: 'echo epoch-1 > /out/model/weights; sleep 60; echo never > /out/model/weights',
    inputs: [{ path: '/in', tags: [`case:${tag}`] }],
    outputs: [{ path: '/out/model', tags: [`case:${tag}-model`] }],
  });
  await s.push({ a: '1' }, [`case:${tag}`]);
  const [run] = await s.waitRuns('the run to run', (rs) => rs.length === 1 && rs[0]!.status === 'running', { plans: [p.id] });
  await new Promise((r) => setTimeout(r, 1000));
  return run!;
}

async function containerState(runId: string): Promise<string | undefined> {
  return (await new DockerEngine().list({ 'knit.run': runId }))[0]?.status;
}

test.serial('a stop asked while the API cannot reach Temporal is accepted (202), recorded, and honoured: the container is stopped and the run ends "stopped by user"', async (t) => {
  const run = await trainingRun('stop-recorded');
  const began = Date.now();
  const res = await fetch(`${s.url}/api/runs/${run.id}/stop`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  t.is(res.status, 202, await res.clone().text());
  const body = (await res.json()) as RunDetail & { notice?: string };
  t.is(body.id, run.id);
  t.is(body.stopRequested, 'stop');
  t.regex(body.notice ?? '', /the stop is recorded, but Temporal cannot be reached now; it will reach run .* when Temporal is back/);

  // The matcher delivers it: the container is stopped long before its minute is up.
  const ended = await s.client.waitRun(run.id, { timeoutMs: 60_000 });
  t.true(Date.now() - began < 45_000, 'stopped, not run to its end');
  t.is(ended.status, 'done');
  // Recorded as exit 0 (the stop's code, as Knitfab does); the message says the container was ended by it.
  t.is(ended.exitCode, 0);
  t.regex(ended.message ?? '', /^stopped by user; its container (did not exit on SIGTERM|ended on SIGTERM)/, 'the container was stopped');
  await waitFor('its container to go', async () => ((await containerState(run.id)) === undefined ? true : undefined));
});

test.serial('knit run stop --fail while the API cannot reach Temporal prints the notice on stderr, exits 0, and the run ends failed', async (t) => {
  const run = await trainingRun('fail-recorded');
  const r = await runKnit(['run', 'stop', '--fail', '--json', run.id], { env: { KNIT_SERVER: s.url } });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /the stop is recorded, but Temporal cannot be reached now/);
  const printed = JSON.parse(r.stdout) as RunDetail & { notice?: string };
  t.is(printed.stopRequested, 'fail');
  t.is(printed.notice, undefined, 'the notice goes to stderr, the run to stdout');
  const ended = await s.client.waitRun(run.id, { timeoutMs: 60_000 });
  t.is(ended.status, 'failed');
  t.is(ended.message, 'stopped by user');
});

test('a recorded stop decides how a run finishes, also when it reached the workflow too late', (t) => {
  // --fail recorded, the container ended 0 before the workflow heard of it: failed all the same.
  t.deepEqual(honourRecordedStop({ status: 'done', message: null }, 'fail'), { status: 'failed', message: 'stopped by user' });
  // A plain stop that came after the container had ended: done, and the message says so.
  t.deepEqual(honourRecordedStop({ status: 'done', message: null }, 'stop'), {
    status: 'done',
    message: 'stopped by user, but the container had ended on its own before the stop reached it',
  });
  // What the workflow already said stands.
  t.deepEqual(honourRecordedStop({ status: 'done', message: 'stopped by user' }, 'stop'), { status: 'done', message: 'stopped by user' });
  t.deepEqual(honourRecordedStop({ status: 'failed', message: 'the container exited with code 3' }, 'fail'), { status: 'failed', message: 'the container exited with code 3' });
  t.deepEqual(honourRecordedStop({ status: 'done', message: null }, null), { status: 'done', message: null });
});
