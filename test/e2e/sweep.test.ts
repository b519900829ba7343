import test from 'ava';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerEngine } from '../../executor/docker/engine.js';
import { liveLogKey } from '../../core/run/live-log.js';
import { LocalBlobStore } from '../../core/storage/local-store.js';
import { Readable } from 'node:stream';
import { TestStack, TEST_IMAGE, terminal } from '../helpers/stack.js';

test('a worker starting up removes leftovers of its own finished attempts, and nothing of another knit', async (t) => {
  const s = await TestStack.start();
  t.teardown(() => s.close());
  const plan = await s.plan({ script: 'true', inputs: [{ path: '/in', tags: ['sweep:in'] }] });
  await s.push({ a: '1' }, ['sweep:in']);
  const [run] = await s.waitRuns('the run', (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [plan.id] });
  await s.stopWorker();

  // What a crash between finishing and cleaning up would leave behind.
  const docker = new DockerEngine();
  const labels = { 'knit.instance': s.instance, 'knit.run': run!.id, 'knit.attempt': '1' };
  const leftover = await docker.create({ name: `${s.instance}-leftover`, image: TEST_IMAGE, cmd: ['true'], binds: [], labels });
  const foreign = await docker.create({
    name: `${s.instance}-foreign`,
    image: TEST_IMAGE,
    cmd: ['true'],
    binds: [],
    labels: { ...labels, 'knit.run': '00000000-0000-4000-8000-000000000000' },
  });
  t.teardown(() => docker.remove(foreign));
  const workdir = join(s.home, 'work', s.instance);
  await mkdir(join(workdir, `${run!.id}-a1`, 'out', '0'), { recursive: true });
  await writeFile(join(workdir, `${run!.id}-a1`, 'out', '0', 'junk'), 'x');
  const store = new LocalBlobStore(join(s.home, 'storage'));
  await store.put(liveLogKey(run!.id, 1, 0), Readable.from([Buffer.from('line\n')]));

  await s.startWorker();
  t.is(await docker.inspect(leftover), undefined, 'its own leftover container is gone');
  t.truthy(await docker.inspect(foreign), 'a container of a run it does not know is not its own: left alone');
  t.deepEqual(await readdir(workdir), []);
  const chunks = [];
  for await (const e of store.list('runs/')) chunks.push(e.key);
  t.deepEqual(chunks, []);
});
