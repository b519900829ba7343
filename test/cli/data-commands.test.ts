import test from 'ava';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DataDetail } from '../../core/data/model.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { knitBin, parseJson, runKnit } from '../helpers/cli.js';
import { craftTar } from '../helpers/tar.js';
import { tempDir } from '../helpers/tmp.js';
import { describeTree, writeRandomFile } from '../helpers/tree.js';

let api: TestApi;
let work: { path: string; cleanup: () => Promise<void> };
let src: string;

test.before(async () => {
  api = await startTestApi();
  work = await tempDir();
  src = join(work.path, 'mnist-train');
  await mkdir(join(src, 'images'), { recursive: true });
  await writeFile(join(src, 'images', '0.png'), 'not really a png');
  await writeFile(join(src, 'labels.csv'), '0,5\n');
});
test.after.always(async () => {
  await api?.close();
  await work?.cleanup();
});

const knit = (args: string[], env: Record<string, string | undefined> = {}) =>
  runKnit(args, { env: { KNIT_SERVER: api.url, KNIT_HOME: join(work.path, 'cli-home'), ...env } });

test.serial('push, find, tag, show and pull through the real knit binary', async (t) => {
  const pushed = await knit(['data', 'push', '-t', 'type:dataset', '--tag', 'project:mnist', '-n', src]);
  t.is(pushed.code, 0, pushed.stderr);
  const data = parseJson<DataDetail>(pushed);
  t.true(data.tags.includes('type:dataset'));
  t.true(data.tags.includes('project:mnist'));
  t.true(data.tags.includes('name:mnist-train'));
  t.regex(pushed.stderr, new RegExp(`pushed .* as ${data.id}`), 'progress and notes go to stderr');

  const found = await knit(['data', 'find', '-t', 'project:mnist', '-t', 'type:dataset']);
  t.is(found.code, 0, found.stderr);
  t.deepEqual(parseJson<DataDetail[]>(found).map((d) => d.id), [data.id]);
  t.deepEqual(parseJson<DataDetail[]>(await knit(['data', 'find', '-t', 'project:other', '--json'])), []);

  const tagged = await knit(['data', 'tag', '--add', 'split:train', '--remove', 'type:dataset', data.id]);
  t.is(tagged.code, 0, tagged.stderr);
  t.false(parseJson<DataDetail>(tagged).tags.includes('type:dataset'));
  t.deepEqual(parseJson<DataDetail[]>(await knit(['data', 'find', '-t', 'type:dataset'])), []);
  t.deepEqual(parseJson<DataDetail[]>(await knit(['data', 'find', '-t', 'split:train'])).map((d) => d.id), [data.id]);
  const removedKey = await knit(['data', 'tag', '--remove-key', 'split', data.id]);
  t.false(parseJson<DataDetail>(removedKey).tags.some((x) => x.startsWith('split:')));

  const shown = parseJson<DataDetail>(await knit(['data', 'show', data.id]));
  t.is(shown.digest, data.digest);

  const dest = join(work.path, 'pulled');
  const pulled = await knit(['data', 'pull', '-x', data.id, dest]);
  t.is(pulled.code, 0, pulled.stderr);
  t.is(pulled.stdout.trim(), join(dest, data.id));
  t.deepEqual(await describeTree(join(dest, data.id)), await describeTree(src));

  const archive = await knit(['data', 'pull', data.id, dest]);
  t.is(archive.code, 0, archive.stderr);
  const bytes = await readFile(join(dest, `${data.id}.tar`));
  t.is(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, data.digest!);
  t.deepEqual((await readdir(dest)).sort(), [data.id, `${data.id}.tar`].sort(), 'no staging leftovers');

  const again = await knit(['data', 'pull', '-x', data.id, dest]);
  t.is(again.code, 1);
  t.regex(again.stderr, /already exists/);
});

test.serial('find prints a readable table on a terminal', async (t) => {
  await knit(['data', 'push', '-t', 'table:yes', src]);
  // `script` gives the CLI a real pseudo-terminal.
  const { stdout } = await promisify(execFile)('script', ['-qec', `${process.execPath} ${knitBin} data find -t table:yes`, '/dev/null'], {
    env: { PATH: process.env['PATH'], KNIT_SERVER: api.url, KNIT_HOME: join(work.path, 'cli-home') },
  });
  t.regex(stdout, /ID\s+CREATED\s+SIZE\s+TAGS/);
  t.regex(stdout, /table:yes/);
  t.notRegex(stdout, /^\s*\[/m, 'not JSON');
});

test.serial('exit codes: 2 for usage mistakes, 1 for errors, with messages that say what to do', async (t) => {
  const noDir = await knit(['data', 'push']);
  t.is(noDir.code, 2);
  t.regex(noDir.stderr, /--help/);
  const badTag = await knit(['data', 'push', '-t', 'notatag', src]);
  t.is(badTag.code, 2);
  t.regex(badTag.stderr, /--tag "notatag": .*KEY:VALUE/);
  const reserved = await knit(['data', 'tag', '--add', 'knit#id:x', '00000000-0000-4000-8000-000000000000']);
  t.is(reserved.code, 2);
  t.regex(reserved.stderr, /reserved/);
  t.is((await knit(['data', 'frobnicate'])).code, 2);
  t.is((await knit(['data', 'tag', '00000000-0000-4000-8000-000000000000'])).code, 2);
  const unknown = await knit(['data', 'show', '00000000-0000-4000-8000-000000000000']);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /not found/);
  const notDir = await knit(['data', 'push', join(work.path, 'missing')]);
  t.is(notDir.code, 1);
  t.regex(notDir.stderr, /missing: no such file or directory/);
  const down = await knit(['data', 'find'], { KNIT_SERVER: 'http://127.0.0.1:9' });
  t.is(down.code, 1);
  t.regex(down.stderr, /cannot reach the knit API .*knit up/);
});

test.serial('every command has --help with an example', async (t) => {
  const commands = [
    [],
    ['data'],
    ...['push', 'find', 'show', 'tag', 'pull', 'lineage'].map((c) => ['data', c]),
    ['plan'],
    ...['template', 'apply', 'show', 'find', 'active', 'resource', 'annotate', 'graph'].map((c) => ['plan', c]),
    ['run'],
    ...['find', 'show', 'log', 'stop', 'retry', 'rm', 'wait'].map((c) => ['run', c]),
    ['up'],
    ['admin', 'migrate'],
  ];
  for (const cmd of commands) {
    const r = await knit([...cmd, '--help']);
    t.is(r.code, 0, cmd.join(' '));
    if (cmd.length === 2 || cmd[0] === 'up' || cmd.length === 0) t.regex(r.stdout, /Examples:/, `${cmd.join(' ')} --help has an example`);
  }
  const completion = await knit(['completion']);
  t.is(completion.code, 0);
  t.regex(completion.stdout, /knit/);
  t.regex(completion.stdout, /complete/);
});

test.serial('server and token come from flags, then env, then the profile file', async (t) => {
  const home = join(work.path, 'profile-home');
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'profile.json'), JSON.stringify({ current: 'lab', profiles: { lab: { server: api.url }, broken: { server: 'http://127.0.0.1:9' } } }));
  const viaProfile = await runKnit(['data', 'find', '-t', 'table:yes'], { env: { KNIT_HOME: home } });
  t.is(viaProfile.code, 0, viaProfile.stderr);
  const envWins = await runKnit(['data', 'find'], { env: { KNIT_HOME: home, KNIT_SERVER: 'http://127.0.0.1:9' } });
  t.is(envWins.code, 1);
  const flagWins = await runKnit(['data', 'find', '--server', api.url], { env: { KNIT_HOME: home, KNIT_SERVER: 'http://127.0.0.1:9' } });
  t.is(flagWins.code, 0, flagWins.stderr);
  const named = await runKnit(['data', 'find', '--profile', 'broken'], { env: { KNIT_HOME: home } });
  t.is(named.code, 1);
  const missing = await runKnit(['data', 'find', '--profile', 'nope'], { env: { KNIT_HOME: home } });
  t.is(missing.code, 1);
  t.regex(missing.stderr, /no such profile/);
});

test.serial('pull refuses content whose digest does not match, and leaves nothing behind', async (t) => {
  // A server that lies about the digest: the client must catch it on its own.
  const body = await craftTar([{ name: 'a.txt', type: 'file', content: 'payload' }]);
  const liar = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-tar', 'content-length': body.length, 'x-knit-digest': `sha256:${'0'.repeat(64)}` });
    res.end(body);
  });
  await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
  t.teardown(() => liar.close());
  const port = (liar.address() as { port: number }).port;
  const dest = join(work.path, 'liar');
  for (const args of [['data', 'pull', '-x'], ['data', 'pull']]) {
    const r = await runKnit([...args, '00000000-0000-4000-8000-000000000000', dest], { env: { KNIT_SERVER: `http://127.0.0.1:${port}` } });
    t.is(r.code, 1);
    t.regex(r.stderr, /digest mismatch/);
    t.deepEqual(await readdir(dest), []);
  }
});

for (const [label, bytes] of [
  ['small', 1000],
  ['large', 8 << 20],
] as const) {
  test.serial(`a ${label} stored archive corrupted on disk is never served as valid`, async (t) => {
    const dir = join(work.path, `corrupt-src-${label}`);
    await mkdir(dir, { recursive: true });
    await writeRandomFile(join(dir, 'blob.bin'), bytes);
    const pushed = parseJson<DataDetail>(await knit(['data', 'push', dir]));
    const object = join(api.home, 'storage', 'objects', 'data', pushed.id);
    const content = await readFile(object);
    content[600] = content[600]! ^ 0xff;
    await writeFile(object, content);
    const dest = join(work.path, `corrupt-${label}`);
    const r = await knit(['data', 'pull', '-x', pushed.id, dest]);
    t.is(r.code, 1);
    t.regex(r.stderr, /digest mismatch/);
    t.deepEqual(await readdir(dest), []);
  });
}

test.serial('push stores symlinks as links; -L stores what they point to; a link out of DIR is refused without -L, naming it', async (t) => {
  const outside = join(work.path, 'outside');
  await mkdir(join(outside, 'shared'), { recursive: true });
  await writeFile(join(outside, 'weights.bin'), 'weights\n');
  await writeFile(join(outside, 'shared', 'vocab.txt'), 'a b c\n');
  const linked = join(work.path, 'linked');
  await mkdir(linked, { recursive: true });
  await writeFile(join(linked, 'real.txt'), 'real\n');
  await symlink('real.txt', join(linked, 'inside-link'));

  // Without -L a link inside DIR is stored as a link.
  const asLinks = await knit(['data', 'push', '-t', 'links:kept', linked]);
  t.is(asLinks.code, 0, asLinks.stderr);
  const kept = parseJson<DataDetail>(asLinks);
  const keptDest = join(work.path, 'kept');
  t.is((await knit(['data', 'pull', '-x', kept.id, keptDest])).code, 0);
  t.is(await readlink(join(keptDest, kept.id, 'inside-link')), 'real.txt');

  // A link pointing out of DIR: refused, naming the path and suggesting -L; nothing is stored.
  await symlink(join(outside, 'weights.bin'), join(linked, 'weights.bin'));
  await symlink('../outside/shared', join(linked, 'shared'));
  const before = (await api.client.findData({ tags: ['links:out'] })).length;
  const refused = await knit(['data', 'push', '-t', 'links:out', linked]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /linked\/(shared|weights\.bin): symlink target .*; push with -L \(--dereference\)/);
  t.is((await api.client.findData({ tags: ['links:out'] })).length, before);

  // With -L every link's target is stored in its place: files and directories.
  const deref = await knit(['data', 'push', '-L', '-t', 'links:out', linked]);
  t.is(deref.code, 0, deref.stderr);
  const data = parseJson<DataDetail>(deref);
  const dest = join(work.path, 'dereferenced');
  t.is((await knit(['data', 'pull', '-x', data.id, dest])).code, 0);
  const root = join(dest, data.id);
  t.deepEqual(await describeTree(root), await describeTree(await materialize(linked, join(work.path, 'expected'))));
  t.is(await readFile(join(root, 'weights.bin'), 'utf8'), 'weights\n');
  t.is(await readFile(join(root, 'shared', 'vocab.txt'), 'utf8'), 'a b c\n');
  t.false((await lstat(join(root, 'inside-link'))).isSymbolicLink());

  // --dereference: a dangling link and a directory that contains itself are named, not followed.
  const loop = join(work.path, 'loop');
  await mkdir(join(loop, 'd'), { recursive: true });
  await symlink('..', join(loop, 'd', 'up'));
  const looping = await knit(['data', 'push', '--dereference', loop]);
  t.is(looping.code, 1);
  t.regex(looping.stderr, /loop\/d\/up: is a symlink to a directory that contains it/);
  const dangling = join(work.path, 'dangling');
  await mkdir(dangling, { recursive: true });
  await symlink('nowhere', join(dangling, 'gone'));
  const gone = await knit(['data', 'push', '-L', dangling]);
  t.is(gone.code, 1);
  t.regex(gone.stderr, /dangling\/gone: is a symlink to "nowhere", which does not exist/);
});

/** `cp -rL`: the tree with every link replaced by what it points to, to compare against. */
async function materialize(from: string, to: string): Promise<string> {
  await promisify(execFile)('cp', ['-rL', from, to]);
  return to;
}
