import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestApi } from '../helpers/api.js';
import { knitBin, runKnit } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

test('data pull ID - writes the verified archive to stdout; -x cannot go with it', async (t) => {
  const api = await startTestApi();
  t.teardown(() => api.close());
  const dir = await tempDir('knit-pull-stdout-');
  t.teardown(dir.cleanup);
  await mkdir(join(dir.path, 'd', 'sub'), { recursive: true });
  await writeFile(join(dir.path, 'd', 'sub', 'f.txt'), 'hello\n');
  const data = await api.client.pushDirectory(join(dir.path, 'd'), ['pull:stdout']);
  const env = { KNIT_SERVER: api.url };
  // Not execFileSync: the API answering it runs in this process.
  const out = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn(process.execPath, [knitBin, 'data', 'pull', data.id, '-'], { env: { PATH: process.env['PATH'], HOME: dir.path, ...env } });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`exit ${code}`))));
  });
  const listed = execFileSync('tar', ['-t'], { input: out, encoding: 'utf8' });
  t.regex(listed, /sub\/f\.txt/);
  const both = await runKnit(['data', 'pull', '-x', data.id, '-'], { env });
  t.is(both.code, 2);
  t.regex(both.stderr, /cannot go with -/);
});
