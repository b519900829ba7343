import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestApi } from '../helpers/api.js';
import { parseJson, runKnit, runKnitOnTerminal } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

// What surprised a Knitfab user trying knit: each answer now says what is wrong and what to do.
test('a noun without a verb lists the verbs', async (t) => {
  for (const [noun, verbs] of [['run', /find, show, log, stop, retry, rm or wait/], ['data', /push, find/], ['plan', /template, apply/]] as const) {
    const r = await runKnit([noun]);
    t.is(r.code, 2, noun);
    t.regex(r.stderr, verbs, noun);
  }
});

test('an unknown flag that swallows the id is named, with the id it took', async (t) => {
  const r = await runKnit(['run', 'show', '--bogus', '0c4d1e2f']);
  t.is(r.code, 2);
  t.regex(r.stderr, /unknown option --bogus: it took "0c4d1e2f" as its value, so an argument is missing/);
  const short = await runKnit(['data', 'pull', '-q', 'ID']);
  t.regex(short.stderr, /unknown option -q: it took "ID"/);
  // Known flags with values are not taken for unknown ones.
  const known = await runKnit(['data', 'lineage', '-n', 'all']);
  t.is(known.code, 2);
  t.notRegex(known.stderr, /unknown option/);
});

test('data push shows the Data readably on a terminal, and JSON when piped or with --json', async (t) => {
  const api = await startTestApi();
  t.teardown(() => api.close());
  const dir = await tempDir('knit-push-tty-');
  t.teardown(dir.cleanup);
  await writeFile(join(dir.path, 'f'), 'x\n');
  const env = { KNIT_SERVER: api.url };
  const shown = await runKnitOnTerminal(['data', 'push', '-t', 'tty:yes', dir.path], { env });
  t.is(shown.code, 0, shown.output);
  t.regex(shown.output, /^id: +[0-9a-f-]{36}$/m);
  t.regex(shown.output, /^ {2}tty:yes$/m);
  t.notRegex(shown.output, /"id":/);
  const json = await runKnitOnTerminal(['data', 'push', '--json', '-t', 'tty:json', dir.path], { env });
  t.regex(json.output, /"tags": \[/);
  const piped = await runKnit(['data', 'push', '-t', 'tty:no', dir.path], { env });
  t.true(parseJson<{ tags: string[] }>(piped).tags.includes('tty:no'));
});

test('a server address without a scheme is named, with how to write it', async (t) => {
  const r = await runKnit(['data', 'find'], { env: { KNIT_SERVER: '127.0.0.1:7620' } });
  t.is(r.code, 1);
  t.regex(r.stderr, /KNIT_SERVER: "127\.0\.0\.1:7620" is not a server URL; write it as http:\/\/127\.0\.0\.1:7620/);
  const flag = await runKnit(['data', 'find', '--server', 'ftp://x']);
  t.regex(flag.stderr, /--server: "ftp:\/\/x" is not a server URL/);
});

test('pushing a path that does not exist says so, and a file is not a directory', async (t) => {
  const dir = await tempDir('knit-surprise-');
  t.teardown(dir.cleanup);
  const missing = await runKnit(['data', 'push', join(dir.path, 'nope')], { env: { KNIT_SERVER: 'http://127.0.0.1:9' } });
  t.is(missing.code, 1);
  t.regex(missing.stderr, /nope: no such file or directory/);
  await writeFile(join(dir.path, 'file'), 'x');
  const file = await runKnit(['data', 'push', join(dir.path, 'file')], { env: { KNIT_SERVER: 'http://127.0.0.1:9' } });
  t.regex(file.stderr, /file: not a directory; knit data push takes directories/);
});

test('plan apply lists every problem of the file before sending it, and --json gives them as data', async (t) => {
  const dir = await tempDir('knit-surprise-');
  t.teardown(dir.cleanup);
  const file = join(dir.path, 'bad.yaml');
  await writeFile(file, 'image: x\ninputs:\n  - path: in\n    tags: []\noutputs:\n  - path: out\n');
  // No server listens there: the file is refused before any request.
  const r = await runKnit(['plan', 'apply', file, '--json'], { env: { KNIT_SERVER: 'http://127.0.0.1:9' } });
  t.is(r.code, 1);
  t.regex(r.stderr, /4 problems:\n {2}image: must be NAME:TAG/);
  t.regex(r.stderr, /inputs\[0\]\.path: must be absolute/);
  t.regex(r.stderr, /outputs\[0\]\.path: must be absolute/);
  const body = JSON.parse(r.stdout) as { error: { details: { problems: Array<{ field: string }> } } };
  t.deepEqual(body.error.details.problems.map((p) => p.field), ['image', 'inputs[0].path', 'inputs[0].tags', 'outputs[0].path']);
});
