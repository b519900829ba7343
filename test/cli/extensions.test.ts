import test from 'ava';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runKnit } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

// As in Knitfab's CLI: an executable knit-NAME on PATH is `knit NAME`, with the settings'
// locations in its environment (and, knit's addition, the resolved server and token).
test('an executable knit-NAME on PATH runs as knit NAME, with its arguments, stdin and exit code', async (t) => {
  const dir = await tempDir('knit-ext-');
  t.teardown(dir.cleanup);
  const bin = join(dir.path, 'bin');
  await mkdir(bin);
  const script = join(bin, 'knit-hello');
  await writeFile(script, '#!/bin/sh\necho "args:$*"\necho "profile:$KNIT_PROFILE store:$KNIT_PROFILE_STORE env:$KNIT_ENV"\necho "server:$KNIT_SERVER token:$KNIT_TOKEN"\nread line; echo "stdin:$line"\nexit 3\n');
  await chmod(script, 0o755);
  // Not executable: not an extension.
  await writeFile(join(bin, 'knit-plain'), '#!/bin/sh\necho no\n');
  const home = join(dir.path, 'home');
  const env = { PATH: `${bin}:${process.env['PATH']}`, KNIT_HOME: home, KNIT_SERVER: 'http://127.0.0.1:9', KNIT_TOKEN: 'sekret' };
  const r = await runKnit(['--profile', 'team', 'hello', 'a', '--flag', 'b'], { env, cwd: dir.path, input: 'piped\n' });
  t.is(r.code, 3, r.stderr);
  const out = r.stdout.split('\n');
  t.is(out[0], 'args:a --flag b');
  t.is(out[1], `profile:team store:${join(home, 'profile')} env:${join(dir.path, 'knitenv')}`);
  t.is(out[2], 'server:http://127.0.0.1:9 token:sekret');
  t.is(out[3], 'stdin:piped');

  const plain = await runKnit(['plain'], { env, cwd: dir.path });
  t.is(plain.code, 2);
  t.regex(plain.stderr, /Did you mean plan|Unknown argument/);

  const help = await runKnit(['--help'], { env, cwd: dir.path });
  t.regex(help.stdout, new RegExp(`hello\\s+\\(= ${script.replace(/[/.]/g, '\\$&')}\\)`));
});

test('knit version and knit license', async (t) => {
  const v = await runKnit(['version', '--json']);
  t.is(v.code, 0, v.stderr);
  t.regex((JSON.parse(v.stdout) as { version: string }).version, /^\d+\.\d+\.\d+/);
  t.regex((await runKnit(['version'])).stdout, /^knit \d+\.\d+\.\d+\n$/);
  const l = await runKnit(['license', '--json']);
  t.is(l.code, 0, l.stderr);
  const licenses = JSON.parse(l.stdout) as { knit: { license: string }; dependencies: Array<{ name: string; license: string }> };
  t.is(licenses.knit.license, 'Apache-2.0');
  for (const dep of ['@temporalio/client', 'fastify', 'zod', 'pg']) t.true(licenses.dependencies.some((d) => d.name === dep), dep);
  // Only what knit runs with: no test tooling.
  t.false(licenses.dependencies.some((d) => d.name === 'ava'));
  t.false(licenses.dependencies.some((d) => d.license === 'UNKNOWN'), licenses.dependencies.filter((d) => d.license === 'UNKNOWN').map((d) => d.name).join(', '));
});
