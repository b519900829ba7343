import test from 'ava';
import { createHash, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { mintAgentToken } from '../../core/agent/token.js';
import { collectGarbage } from '../../core/data/gc.js';
import { blobKeyOf } from '../../core/data/db.js';
import { setStatus } from '../../core/run/store.js';
import { uploadsOf } from '../../core/run/uploads.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { AGENT_SECRET, runningAttempt } from '../helpers/agent.js';
import { craftTar } from '../helpers/tar.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function call(api: TestApi, method: string, path: string, opts: { token?: string; body?: Buffer; trailer?: string | null; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token !== undefined) headers['authorization'] = `Bearer ${opts.token}`;
    if (opts.body) Object.assign(headers, { 'content-type': 'application/x-tar', 'transfer-encoding': 'chunked', trailer: 'x-knit-digest' });
    const req = request(new URL(path, api.url), { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (opts.body) {
      req.write(opts.body);
      const digest = opts.trailer === undefined ? `sha256:${createHash('sha256').update(opts.body).digest('hex')}` : opts.trailer;
      if (digest !== null) req.addTrailers({ 'x-knit-digest': digest });
    }
    req.end();
  });
}

const errorOf = (a: Answer) => (JSON.parse(a.body.toString()) as { error: { code: string; message: string } }).error;
const inputPath = (runId: string, attempt: number, idx: number) => `/api/agent/runs/${runId}/attempts/${attempt}/inputs/${idx}`;
const outputPath = (runId: string, attempt: number, idx: number) => `/api/agent/runs/${runId}/attempts/${attempt}/outputs/${idx}`;

let api: TestApi;
test.before(async () => {
  api = await startTestApi({ agentSecret: AGENT_SECRET, token: 'the-users-knit-token' });
});
test.after.always(async () => {
  await api?.close();
});

test('an input downloads as the exact stored archive, with its digest and size', async (t) => {
  const run = await runningAttempt(api, [{ 'a.txt': 'alpha' }, { 'deep/b.txt': 'beta' }], 0);
  for (const [idx, data] of run.inputs.entries()) {
    const got = await call(api, 'GET', inputPath(run.runId, 1, idx), { token: run.token });
    t.is(got.status, 200);
    const stored = Buffer.concat(await (await api.store.get(blobKeyOf(data.id))).toArray());
    t.deepEqual(got.body, stored);
    t.is(got.headers['x-knit-digest'], data.digest!);
    t.is(got.headers['content-length'], String(stored.length));
  }
  t.is((await call(api, 'GET', inputPath(run.runId, 1, 2), { token: run.token })).status, 404);
});

test('the agent token is checked: none 401, bad 401, another run or attempt 403; it opens no other route', async (t) => {
  const run = await runningAttempt(api, [{ 'a.txt': 'alpha' }], 1);
  const none = await call(api, 'GET', inputPath(run.runId, 1, 0));
  t.is(none.status, 401);
  t.regex(errorOf(none).message, /missing agent token/);
  t.is((await call(api, 'GET', inputPath(run.runId, 1, 0), { token: 'the-users-knit-token' })).status, 401);
  t.is((await call(api, 'GET', inputPath(run.runId, 1, 0), { token: mintAgentToken('z'.repeat(40), { runId: run.runId, attempt: 1 }) })).status, 401);
  const other = mintAgentToken(AGENT_SECRET, { runId: randomUUID(), attempt: 1 });
  t.is((await call(api, 'GET', inputPath(run.runId, 1, 0), { token: other })).status, 403);
  t.is((await call(api, 'PUT', outputPath(run.runId, 1, 0), { token: other, body: await craftTar([]) })).status, 403);
  t.is((await call(api, 'GET', inputPath(run.runId, 2, 0), { token: run.token })).status, 403);
  // The agent token is not a user token, and the user token is not needed here.
  t.is((await call(api, 'GET', `/api/runs/${run.runId}`, { token: run.token })).status, 401);
  t.is((await call(api, 'GET', `/api/data/${run.inputs[0]!.id}/content`, { token: run.token })).status, 401);
  t.is((await call(api, 'GET', `/api/runs/${run.runId}`, { token: 'the-users-knit-token' })).status, 200);
});

test('an attempt that is not current, or a run not running, is refused with 409', async (t) => {
  const run = await runningAttempt(api, [{ 'a.txt': 'alpha' }], 1);
  const later = mintAgentToken(AGENT_SECRET, { runId: run.runId, attempt: 2 });
  const stale = await call(api, 'GET', inputPath(run.runId, 2, 0), { token: later });
  t.is(stale.status, 409);
  t.regex(errorOf(stale).message, /attempt 2 is over|is at attempt 1/);
  await setStatus(api.db.pool, run.runId, 1, 'completing');
  const done = await call(api, 'GET', inputPath(run.runId, 1, 0), { token: run.token });
  t.is(done.status, 409);
  t.regex(errorOf(done).message, /is completing/);
  // Uploads still land while the workflow, in collect(), waits for them.
  t.is((await call(api, 'PUT', outputPath(run.runId, 1, 0), { token: run.token, body: await craftTar([]) })).status, 200);
  await setStatus(api.db.pool, run.runId, 1, 'done');
  t.is((await call(api, 'PUT', outputPath(run.runId, 1, 0), { token: run.token, body: await craftTar([]) })).status, 409);
});

// Serial: its sweep, with no grace, would also take the half-written upload of a test running
// beside it (CI once saw that upload fail with a 500).
test.serial('an upload is stored at its Data\'s blob key and recorded; a repeat replaces it; the sweep keeps it', async (t) => {
  const run = await runningAttempt(api, [{ 'a.txt': 'alpha' }], 2);
  const first = await craftTar([{ name: 'result.txt', type: 'file', content: 'first' }]);
  const put = await call(api, 'PUT', outputPath(run.runId, 1, 1), { token: run.token, body: first });
  t.is(put.status, 200, put.body.toString());
  const digest = `sha256:${createHash('sha256').update(first).digest('hex')}`;
  t.deepEqual(JSON.parse(put.body.toString()), { size: first.length, digest, problem: null });
  const out = run.outputs.find((o) => o.idx === 1)!;
  t.deepEqual(Buffer.concat(await (await api.store.get(blobKeyOf(out.dataId))).toArray()), first);
  t.deepEqual(await uploadsOf(api.db.pool, run.runId, 1), [{ idx: 1, dataId: out.dataId, size: first.length, digest, blobKey: blobKeyOf(out.dataId), problem: null }]);

  const second = await craftTar([{ name: 'result.txt', type: 'file', content: 'second, longer' }]);
  t.is((await call(api, 'PUT', outputPath(run.runId, 1, 1), { token: run.token, body: second })).status, 200);
  const [u] = await uploadsOf(api.db.pool, run.runId, 1);
  t.is(u!.size, second.length);
  t.deepEqual(Buffer.concat(await (await api.store.get(blobKeyOf(out.dataId))).toArray()), second);

  // The Data has no blob_key until the attempt finishes; the upload record keeps the sweep off it.
  await collectGarbage(api.db.pool, api.store, 0);
  t.truthy(await api.store.stat(blobKeyOf(out.dataId)));
  t.is((await call(api, 'PUT', outputPath(run.runId, 1, 7), { token: run.token, body: first })).status, 404);
});

test('a digest mismatch is 422 and keeps nothing; a missing trailer is 400', async (t) => {
  const run = await runningAttempt(api, [{ 'a.txt': 'alpha' }], 1);
  const body = await craftTar([{ name: 'x', type: 'file', content: 'x' }]);
  const bad = await call(api, 'PUT', outputPath(run.runId, 1, 0), { token: run.token, body, trailer: `sha256:${'0'.repeat(64)}` });
  t.is(bad.status, 422);
  t.regex(errorOf(bad).message, /nothing was kept/);
  t.is(await api.store.stat(blobKeyOf(run.outputs[0]!.dataId)), undefined);
  t.deepEqual(await uploadsOf(api.db.pool, run.runId, 1), []);
  const missing = await call(api, 'PUT', outputPath(run.runId, 1, 0), { token: run.token, body, trailer: null });
  t.is(missing.status, 400);
  t.regex(errorOf(missing).message, /x-knit-digest/);
  t.is(await api.store.stat(blobKeyOf(run.outputs[0]!.dataId)), undefined);
});

test('an unsafe archive is refused; an empty one with the agent\'s problem is recorded', async (t) => {
  const run = await runningAttempt(api, [{ 'a.txt': 'alpha' }], 1);
  const unsafe = await craftTar([{ name: 'escape', type: 'symlink', linkname: '/etc/passwd' }]);
  const refused = await call(api, 'PUT', outputPath(run.runId, 1, 0), { token: run.token, body: unsafe });
  t.is(refused.status, 400);
  t.regex(errorOf(refused).message, /absolute/);
  t.is(await api.store.stat(blobKeyOf(run.outputs[0]!.dataId)), undefined);

  const problem = 'output 0: archive entry "dev/null": entry type char-device is not allowed — ünïcode';
  const headers = { 'x-knit-problem': encodeURIComponent(problem) };
  const notEmpty = await call(api, 'PUT', outputPath(run.runId, 1, 0), { token: run.token, body: await craftTar([{ name: 'x', type: 'file', content: 'x' }]), headers });
  t.is(notEmpty.status, 400);
  const empty = await craftTar([]);
  const ok = await call(api, 'PUT', outputPath(run.runId, 1, 0), { token: run.token, body: empty, headers });
  t.is(ok.status, 200, ok.body.toString());
  t.is((JSON.parse(ok.body.toString()) as { problem: string }).problem, problem);
  t.is((await uploadsOf(api.db.pool, run.runId, 1))[0]?.problem, problem);
});

test('without KNIT_AGENT_SECRET the agent routes answer 404 saying so', async (t) => {
  const plain = await startTestApi();
  try {
    const got = await call(plain, 'GET', inputPath(randomUUID(), 1, 0), { token: mintAgentToken(AGENT_SECRET, { runId: randomUUID(), attempt: 1 }) });
    t.is(got.status, 404);
    t.regex(errorOf(got).message, /KNIT_AGENT_SECRET/);
  } finally {
    await plain.close();
  }
});
