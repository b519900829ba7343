import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFakeGcs } from '../helpers/fake-gcs.js';
import { TestStack, terminal } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

// knitd and the worker keep every Data archive and log in GCS (fake-gcs-server; live logs are in the database):
// a two-stage chain runs, its outputs come back through the API, and the bucket holds them.
test('a two-stage chain runs with its Data in GCS: pushed, staged, produced, pulled', async (t) => {
  const gcs = await startFakeGcs(['knit-e2e']);
  t.teardown(() => gcs.stop());
  const s = await TestStack.start({ gcs: { endpoint: gcs.endpoint, bucket: 'knit-e2e', prefix: 'e2e/' } });
  t.teardown(() => s.close());
  const a = await s.plan({ script: 'cat /in/x/raw > /out/y/a; echo a >> /out/y/a; echo made-a', inputs: [{ path: '/in/x', tags: ['gcs:raw'] }], outputs: [{ path: '/out/y', tags: ['gcs:a'] }] });
  const b = await s.plan({ script: 'cat /in/x/a > /out/y/b; echo b >> /out/y/b', inputs: [{ path: '/in/x', tags: ['gcs:a'] }], outputs: [{ path: '/out/y', tags: ['gcs:b'] }] });
  const upload = await s.push({ raw: 'raw\n' }, ['gcs:raw']);
  const runs = await s.waitRuns('both runs to end', (rs) => rs.length === 2 && rs.every(terminal), { plans: [a.id, b.id] });
  t.true(runs.every((r) => r.status === 'done'), JSON.stringify(runs.map((r) => r.message)));
  const rb = runs.find((r) => r.plan.id === b.id)!;
  const ra = runs.find((r) => r.plan.id === a.id)!;
  const dir = await tempDir('knit-gcs-pull-');
  t.teardown(() => dir.cleanup());
  const pulled = await s.client.pullData(rb.outputs[0]!.dataId!, dir.path, { extract: true });
  t.is(await readFile(join(pulled.path, 'b'), 'utf8'), 'raw\na\nb\n');
  const log = await s.client.pullData(ra.log.dataId!, dir.path, { extract: true });
  t.regex(await readFile(join(log.path, 'log'), 'utf8'), /^made-a\n/m);
  const [objects] = await gcs.storage.bucket('knit-e2e').getFiles({ prefix: 'e2e/' });
  const names = objects.map((o) => o.name);
  for (const id of [upload.id, ra.outputs[0]!.dataId!, rb.outputs[0]!.dataId!, ra.log.dataId!]) t.true(names.some((n) => n.startsWith('e2e/') && n.includes(id)), `${id} in ${names.join(', ')}`);
});
