import test from 'ava';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DataDetail } from '../../core/data/model.js';
import { startTestApi } from '../helpers/api.js';
import { parseJson, runKnit } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { buildRoundTripTree, describeTree } from '../helpers/tree.js';

test('a tree with every kind of entry and a 100 MB file survives push, find and pull -x byte for byte', async (t) => {
  const api = await startTestApi();
  const work = await tempDir();
  t.teardown(async () => {
    await api.close();
    await work.cleanup();
  });
  const src = join(work.path, 'dataset');
  await mkdir(src);
  await buildRoundTripTree(src, 100 * 1000 * 1000);
  const env = { KNIT_SERVER: api.url, KNIT_HOME: join(work.path, 'home') };

  const pushed = await runKnit(['data', 'push', '-t', 'roundtrip:yes', '-t', 'size:100MB', src], { env });
  t.is(pushed.code, 0, pushed.stderr);
  const data = parseJson<DataDetail>(pushed);
  t.true(data.size! > 100 * 1000 * 1000);

  const found = parseJson<DataDetail[]>(await runKnit(['data', 'find', '-t', 'roundtrip:yes', '-t', 'size:100MB'], { env }));
  t.deepEqual(found.map((d) => d.id), [data.id]);

  const dest = join(work.path, 'out');
  const pulled = await runKnit(['data', 'pull', '-x', data.id, dest], { env });
  t.is(pulled.code, 0, pulled.stderr);

  const expected = await describeTree(src);
  const actual = await describeTree(join(dest, data.id));
  t.deepEqual(actual, expected);
  // The comparison must have covered what the tree is made of, or it proves nothing.
  t.is(expected['run.sh']?.mode, 0o755);
  t.is(expected['read-only.txt']?.mode, 0o444);
  t.is(expected['zero-bytes']?.size, 0);
  t.is(expected['empty-dir']?.type, 'dir');
  t.is(expected['nested/leaf-link']?.type, 'symlink');
  t.is(expected['nested/spaced name ü日本.txt']?.type, 'file');
  t.is(expected['large.bin']?.size, 100 * 1000 * 1000);
});
