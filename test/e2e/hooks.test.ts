import test from 'ava';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { KfRunDetail } from '../../core/knitfab/run-detail.js';
import { freePort } from '../helpers/free-port.js';
import { TestStack, terminal } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Lifecycle hooks end to end on Docker: a real HTTP receiver stands for the administrator's
 * hooks, and answers per plan (the body's plan.planId) as each case needs.
 */
interface Call {
  kind: 'before' | 'after';
  runId: string;
  planId: string;
  status: string;
}
type Answer = (call: Call, nth: number) => { status: number; type?: string; body?: string } | 'hang';

const calls: Call[] = [];
const answers = new Map<string, Answer>();
const hanging: ServerResponse[] = [];
let s: TestStack;
let base: string;
let closeServer: (() => Promise<void>) | undefined;

test.before(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as KfRunDetail;
      const call: Call = { kind: req.url === '/before' ? 'before' : 'after', runId: body.runId, planId: body.plan.planId, status: body.status };
      if (req.headers['content-type'] !== 'application/json') call.status = `bad content-type ${req.headers['content-type']}`;
      calls.push(call);
      const nth = calls.filter((c) => c.runId === call.runId && c.kind === call.kind && c.status === call.status).length;
      const a = answers.get(call.planId)?.(call, nth) ?? { status: 200 };
      if (a === 'hang') {
        hanging.push(res);
        return;
      }
      res.writeHead(a.status, a.type ? { 'content-type': a.type } : {});
      res.end(a.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  closeServer = () => new Promise<void>((resolve) => server.close(() => resolve()));
  s = await TestStack.start({
    workerEnv: {
      KNIT_HOOKS_BEFORE: `${base}/before`,
      KNIT_HOOKS_AFTER: `${base}/after`,
      KNIT_HOOKS_TIMEOUT: '2s',
      KNIT_HOOKS_BEFORE_ATTEMPTS: '3',
    },
  });
  closeServer = async () => {
    for (const r of hanging) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
});
test.after.always(async () => {
  await s?.close();
  await closeServer?.();
});

/** The run of `planId` once it has ended and its last after hook was called (a moment after the change). */
async function runOf(planId: string) {
  const [run] = await s.waitRuns(`the run of plan ${planId} to end`, (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [planId] });
  await waitFor(`the after hook of ${run!.status}`, () => seq(run!.id).includes(`after ${run!.status}`), 30_000);
  return run!;
}

async function logOf(runId: string): Promise<string> {
  const res = await s.client.runLog(runId);
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const seq = (runId: string) => calls.filter((c) => c.runId === runId).map((c) => `${c.kind} ${c.status}`);

test.serial('every change has its before hooks (the run before it) and after hooks (after it), and the env of ready → starting reaches the container', async (t) => {
  const plan = await s.plan({ script: 'echo "FOO=$FOO BAR=$BAR"; echo x > /out/o/f', inputs: [{ path: '/in', tags: ['hooks:env'] }], outputs: [{ path: '/out/o', tags: ['hooks:env-out'] }] });
  answers.set(plan.id, (c) =>
    c.kind === 'before' && c.status === 'ready'
      ? { status: 200, type: 'application/json', body: JSON.stringify({ knitfabExtension: { env: { FOO: 'bar', BAR: 'one' } } }) }
      : { status: 200 },
  );
  await s.push({ a: '1' }, ['hooks:env']);
  const run = await runOf(plan.id);
  t.is(run.status, 'done', run.message ?? '');
  t.deepEqual(seq(run.id), [
    'before waiting', // → ready
    'after ready',
    'before ready', // → starting
    'after starting',
    'before starting', // → running
    'after running',
    'before running', // → completing
    'after completing',
    'before completing', // → done
    'after done',
  ]);
  t.true(calls.filter((c) => c.runId === run.id).every((c) => c.planId === plan.id));
  t.regex(await logOf(run.id), /FOO=bar BAR=one/);
});

test.serial('a before hook that refuses twice delays the change, and the run completes', async (t) => {
  const plan = await s.plan({ script: 'echo ok', inputs: [{ path: '/in', tags: ['hooks:flaky'] }] });
  answers.set(plan.id, (c, nth) => (c.kind === 'before' && c.status === 'ready' && nth <= 2 ? { status: 503, type: 'text/plain', body: 'busy' } : { status: 200 }));
  await s.push({ a: '1' }, ['hooks:flaky']);
  const run = await runOf(plan.id);
  t.is(run.status, 'done', run.message ?? '');
  t.is(seq(run.id).filter((c) => c === 'before ready').length, 3);
});

test.serial('a before hook that always refuses fails the run, naming the hook and its answer; changes toward failure go ahead and the refusal is in the log', async (t) => {
  const plan = await s.plan({ script: 'echo never', inputs: [{ path: '/in', tags: ['hooks:refuse'] }] });
  answers.set(plan.id, (c) => (c.kind === 'before' && c.status === 'ready' ? { status: 403, type: 'text/plain', body: 'not today' } : { status: 200 }));
  await s.push({ a: '1' }, ['hooks:refuse']);
  const run = await runOf(plan.id);
  t.is(run.status, 'failed');
  t.true(run.message?.includes(`${base}/before`), run.message ?? '');
  t.true(run.message?.includes('HTTP 403: not today'), run.message ?? '');
  // ready → starting was refused three times (the budget); ready → aborting too, but it went ahead.
  t.deepEqual(seq(run.id).slice(-4), ['before ready', 'after aborting', 'before aborting', 'after failed']);
  t.is(seq(run.id).filter((c) => c === 'before ready').length, 6);
  t.regex(await logOf(run.id), /refused ready → aborting.*the run fails anyway/);
});

test.serial('an after hook that hangs past its timeout does not hold the run', async (t) => {
  const plan = await s.plan({ script: 'echo ok', inputs: [{ path: '/in', tags: ['hooks:hang'] }] });
  answers.set(plan.id, (c) => (c.kind === 'after' && c.status === 'running' ? 'hang' : { status: 200 }));
  await s.push({ a: '1' }, ['hooks:hang']);
  const run = await runOf(plan.id);
  t.is(run.status, 'done', run.message ?? '');
  t.true(seq(run.id).includes('after done'));
});

test.serial('a bad env name from a hook fails the run with a message naming the hook and the name', async (t) => {
  const plan = await s.plan({ script: 'echo never', inputs: [{ path: '/in', tags: ['hooks:badenv'] }] });
  answers.set(plan.id, (c) =>
    c.kind === 'before' && c.status === 'ready' ? { status: 200, type: 'application/json', body: JSON.stringify({ knitfabExtension: { env: { '1BAD': 'x' } } }) } : { status: 200 },
  );
  await s.push({ a: '1' }, ['hooks:badenv']);
  const run = await runOf(plan.id);
  t.is(run.status, 'failed');
  t.true(run.message?.includes(`${base}/before`) && run.message.includes('"1BAD"'), run.message ?? '');
});
