import test from 'ava';
import { createServer } from 'node:http';
import { callAfterHooks, callBeforeHooks, HookEnvInvalid, HookRefused, hookEnv } from '../../core/hooks/hooks.js';

const json = (body: unknown) => ({ status: 200, contentType: 'application/json', text: JSON.stringify(body) });

test('hookEnv reads knitfabExtension.env only from application/json exactly', (t) => {
  t.deepEqual(hookEnv('u', json({ knitfabExtension: { env: { FOO: 'bar', _x1: '' } } })), { FOO: 'bar', _x1: '' });
  t.deepEqual(hookEnv('u', { ...json({ knitfabExtension: { env: { FOO: 'bar' } } }), contentType: 'application/json; charset=utf-8' }), {});
  t.deepEqual(hookEnv('u', json({ other: 1 })), {});
  t.deepEqual(hookEnv('u', { status: 200, contentType: 'application/json', text: 'not json' }), {});
});

test('hookEnv refuses bad names and non-string values, naming the hook and the variable', (t) => {
  const bad = t.throws(() => hookEnv('http://h/b', json({ knitfabExtension: { env: { 'A-B': 'x' } } })), { instanceOf: HookEnvInvalid });
  t.regex(bad.message, /http:\/\/h\/b.*"A-B"/);
  const num = t.throws(() => hookEnv('http://h/b', json({ knitfabExtension: { env: { N: 1 } } })), { instanceOf: HookEnvInvalid });
  t.regex(num.message, /env\.N: the value must be a string/);
});

test('before hooks are called in order, env merged with later hooks winning; a refusal names the hook and its answer', async (t) => {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.url} ${req.headers['content-type']}`);
    if (req.url === '/no') {
      res.writeHead(409, { 'content-type': 'text/plain' }).end('held');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ knitfabExtension: { env: req.url === '/a' ? { X: 'a', Y: 'a' } : { Y: 'b' } } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  t.deepEqual(await callBeforeHooks([`${base}/a`, `${base}/b`], { runId: 'r' }, { timeoutMs: 5000, env: true }), { X: 'a', Y: 'b' });
  t.deepEqual(seen, ['/a application/json', '/b application/json']);
  const err = await t.throwsAsync(callBeforeHooks([`${base}/no`, `${base}/a`], {}, { timeoutMs: 5000, env: true }), { instanceOf: HookRefused });
  t.is(err.message, `hook ${base}/no answered HTTP 409: held`);
  const gone = await t.throwsAsync(callBeforeHooks(['http://127.0.0.1:1/x'], {}, { timeoutMs: 5000, env: false }), { instanceOf: HookRefused });
  t.regex(gone.message, /could not be reached/);
  t.deepEqual(await callAfterHooks([`${base}/no`, `${base}/a`], {}, { timeoutMs: 5000 }), [`hook ${base}/no answered HTTP 409: held`]);
});
