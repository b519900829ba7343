import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { extractArchive } from '../../core/archive/extract.js';
import { blobKeyOf } from '../../core/data/db.js';
import { uploadsOf } from '../../core/run/uploads.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { AGENT_SECRET, folderWith, runningAttempt, type RunningAttempt } from '../helpers/agent.js';
import { freePort } from '../helpers/free-port.js';
import { tempDir } from '../helpers/tmp.js';

const MAIN = fileURLToPath(new URL('../../agent/main.js', import.meta.url));

interface Exit {
  code: number | null;
  stderr: string;
}

function start(args: string[], env: Record<string, string>): { child: ChildProcess; exit: Promise<Exit> } {
  // Only what the Pod would pass: nothing of this process's environment leaks in.
  const child = spawn(process.execPath, [MAIN, ...args], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<Exit>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`knit-agent ${args.join(' ')} did not end within 60 s; stderr: ${stderr}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
  return { child, exit };
}

const runAgent = (args: string[], env: Record<string, string>) => start(args, env).exit;

function transferEnv(api: TestApi, run: RunningAttempt, termLog: string): Record<string, string> {
  return {
    KNIT_AGENT_URL: api.url,
    KNIT_AGENT_TOKEN: run.token,
    KNIT_RUN: run.runId,
    KNIT_ATTEMPT: String(run.attempt),
    KNIT_TERMINATION_LOG: termLog,
    KNIT_AGENT_TRIES: '3',
    KNIT_AGENT_BACKOFF_MS: '20',
  };
}

let api: TestApi;
let work: { path: string; cleanup: () => Promise<void> };
test.before(async () => {
  api = await startTestApi({ agentSecret: AGENT_SECRET });
  work = await tempDir('knit-agent-work-');
});
test.after.always(async () => {
  await api?.close();
  await work?.cleanup();
});

let n = 0;
const fresh = async (name: string) => {
  const p = join(work.path, `${name}-${n++}`);
  await mkdir(p, { recursive: true });
  return p;
};

test('fetch extracts every input into its folder', async (t) => {
  const run = await runningAttempt(api, [{ 'a.txt': 'alpha', 'sub/b.txt': 'beta' }, { 'c.bin': 'x'.repeat(300_000) }], 0);
  const base = await fresh('fetch');
  const inputs = [{ idx: 0, dir: join(base, 'in0') }, { idx: 1, dir: join(base, 'in1') }];
  const termLog = join(base, 'termination-log');
  const r = await runAgent(['fetch'], { ...transferEnv(api, run, termLog), KNIT_INPUTS: JSON.stringify(inputs) });
  t.is(r.code, 0, r.stderr);
  t.is(await readFile(join(base, 'in0', 'a.txt'), 'utf8'), 'alpha');
  t.is(await readFile(join(base, 'in0', 'sub', 'b.txt'), 'utf8'), 'beta');
  t.is((await readFile(join(base, 'in1', 'c.bin'), 'utf8')).length, 300_000);
  await t.throwsAsync(readFile(termLog, 'utf8'));
});

test('fetch of a corrupted blob fails with the digest mismatch in the termination log', async (t) => {
  const run = await runningAttempt(api, [{ 'a.txt': 'the original content' }], 0);
  const key = blobKeyOf(run.inputs[0]!.id);
  const stored = Buffer.concat(await (await api.store.get(key)).toArray());
  const corrupt = Buffer.from(stored);
  const at = corrupt.indexOf('original');
  corrupt.write('ORIGINAL', at);
  await api.store.put(key, (await import('node:stream')).Readable.from([corrupt]));
  const base = await fresh('corrupt');
  const termLog = join(base, 'termination-log');
  const r = await runAgent(['fetch'], { ...transferEnv(api, run, termLog), KNIT_INPUTS: JSON.stringify([{ idx: 0, dir: join(base, 'in0') }]) });
  t.is(r.code, 1, r.stderr);
  const message = await readFile(termLog, 'utf8');
  t.regex(message, /^fetch: input 0: content digest mismatch: expected sha256:[0-9a-f]{64}/);
  t.is(message.trim().split('\n').length, 1);
  // A mismatch is not retried: the stored bytes will not change.
  t.notRegex(r.stderr, /try 2 of/);
});

test('fetch gives up on a 4xx at once, and retries a refused connection before failing', async (t) => {
  const run = await runningAttempt(api, [{ 'a.txt': 'alpha' }], 0);
  const base = await fresh('fail');
  const inputs = JSON.stringify([{ idx: 0, dir: join(base, 'in0') }]);
  const termLog = join(base, 'termination-log');
  const denied = await runAgent(['fetch'], { ...transferEnv(api, run, termLog), KNIT_INPUTS: inputs, KNIT_ATTEMPT: '2' });
  t.is(denied.code, 1);
  t.regex(await readFile(termLog, 'utf8'), /knitd answered 403/);
  t.notRegex(denied.stderr, /try 2 of/);

  const port = await freePort();
  const refused = await runAgent(['fetch'], { ...transferEnv(api, run, termLog), KNIT_INPUTS: inputs, KNIT_AGENT_URL: `http://127.0.0.1:${port}` });
  t.is(refused.code, 1);
  t.regex(refused.stderr, /try 2 of 3/);
  t.regex(refused.stderr, /try 3 of 3/);
  t.regex(await readFile(termLog, 'utf8'), /ECONNREFUSED/);
});

test('fetch refuses a bad configuration, naming the variable', async (t) => {
  const base = await fresh('config');
  const termLog = join(base, 'termination-log');
  const r = await runAgent(['fetch'], { KNIT_TERMINATION_LOG: termLog, KNIT_AGENT_URL: 'http://127.0.0.1:1', KNIT_AGENT_TOKEN: 't', KNIT_RUN: 'nope', KNIT_ATTEMPT: '1', KNIT_INPUTS: '[]' });
  t.is(r.code, 1);
  t.regex(await readFile(termLog, 'utf8'), /env\.KNIT_RUN: must be a run id/);
});

test('keep is ready once up, uploads every output on SIGTERM, and reports an unsafe tree as a problem', async (t) => {
  const run = await runningAttempt(api, [{ 'a.txt': 'alpha' }], 2);
  const base = await fresh('keep');
  const out0 = await folderWith({ 'model.bin': 'weights', 'logs/train.txt': 'epoch 1' });
  const out1 = join(base, 'out1');
  await mkdir(out1);
  await writeFile(join(out1, 'ok.txt'), 'fine');
  await symlink('/etc/passwd', join(out1, 'escape'));
  const pidFile = join(base, 'keep.pid');
  const termLog = join(base, 'termination-log');
  t.is((await runAgent(['ready'], { KNIT_KEEP_PID_FILE: pidFile })).code, 1);

  const keep = start(['keep'], {
    ...transferEnv(api, run, termLog),
    KNIT_OUTPUTS: JSON.stringify([{ idx: 0, dir: out0.path }, { idx: 1, dir: out1 }]),
    KNIT_KEEP_PID_FILE: pidFile,
  });
  let ready = false;
  for (let i = 0; i < 100 && !ready; i++) {
    ready = (await runAgent(['ready'], { KNIT_KEEP_PID_FILE: pidFile })).code === 0;
    if (!ready) await new Promise((r) => setTimeout(r, 100));
  }
  t.true(ready, 'ready never succeeded');
  t.deepEqual(await uploadsOf(api.db.pool, run.runId, 1), [], 'nothing is uploaded before SIGTERM');

  keep.child.kill('SIGTERM');
  const r = await keep.exit;
  t.is(r.code, 0, r.stderr);
  const uploads = await uploadsOf(api.db.pool, run.runId, 1);
  t.deepEqual(uploads.map((u) => u.idx), [0, 1]);
  t.is(uploads[0]!.problem, null);
  t.regex(uploads[1]!.problem ?? '', /output 1: archive entry "escape": symlink target "\/etc\/passwd" is absolute/);

  const check = await fresh('check');
  await extractArchive(await api.store.get(uploads[0]!.blobKey), check);
  t.is(await readFile(join(check, 'model.bin'), 'utf8'), 'weights');
  t.is(await readFile(join(check, 'logs', 'train.txt'), 'utf8'), 'epoch 1');
  const empty = await fresh('empty');
  await extractArchive(await api.store.get(uploads[1]!.blobKey), empty);
  t.deepEqual(await readdir(empty), []);
  // Its pid file goes with it, so a restarted sidecar is not taken for ready too early.
  t.is((await runAgent(['ready'], { KNIT_KEEP_PID_FILE: pidFile })).code, 1);
  await out0.cleanup();
});

test('keep fails with a termination message when an upload is refused', async (t) => {
  const run = await runningAttempt(api, [{ 'a.txt': 'alpha' }], 1);
  const base = await fresh('keep-fail');
  const pidFile = join(base, 'keep.pid');
  const termLog = join(base, 'termination-log');
  const keep = start(['keep'], { ...transferEnv(api, run, termLog), KNIT_OUTPUTS: JSON.stringify([{ idx: 5, dir: base }]), KNIT_KEEP_PID_FILE: pidFile });
  for (let i = 0; i < 100; i++) {
    if ((await runAgent(['ready'], { KNIT_KEEP_PID_FILE: pidFile })).code === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  keep.child.kill('SIGTERM');
  const r = await keep.exit;
  t.is(r.code, 1);
  t.regex(await readFile(termLog, 'utf8'), /^keep: output 5: knitd answered 404: run [0-9a-f-]+ has no output 5/);
});

test('stop refuses outside a Pod\'s shared process namespace, signalling nothing', async (t) => {
  // PID 1 here is the host's (or the test container's) init, not a Pod's pause process.
  const r = await runAgent(['stop', '--grace', '1'], {});
  t.is(r.code, 2);
  t.regex(r.stderr, /refusing to stop: PID 1 is .*not the Pod's pause process/);
  const usage = await runAgent(['stop', '--grace', 'soon'], {});
  t.is(usage.code, 2);
  t.regex(usage.stderr, /usage: stop \[--grace SECONDS\]/);
});
