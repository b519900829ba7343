import test from 'ava';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerEngine } from '../../executor/docker/engine.js';
import { readLiveLogChunks } from '../../core/run/live-log-db.js';
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
  const volume = `${s.instance}-leftover-volume`;
  await docker.createVolume(volume, labels);
  t.teardown(() => docker.removeVolume(volume));
  // A step's scratch folder, cut short by a crash long ago; and one of a step running now on
  // another worker process sharing the folder.
  const workdir = join(s.home, 'work', s.instance);
  await mkdir(join(workdir, 'scratch-old', 'tree'), { recursive: true });
  await writeFile(join(workdir, 'scratch-old', 'tree', 'junk'), 'x');
  const longAgo = new Date(Date.now() - 2 * 3600_000);
  await utimes(join(workdir, 'scratch-old'), longAgo, longAgo);
  await mkdir(join(workdir, 'scratch-now'));
  await s.db.pool.query("INSERT INTO live_log_chunk (run_id, attempt, seq, text) VALUES ($1, 1, 0, 'line\n')", [run!.id]);

  await s.startWorker();
  t.is(await docker.inspect(leftover), undefined, 'its own leftover container is gone');
  t.truthy(await docker.inspect(foreign), 'a container of a run it does not know is not its own: left alone');
  t.deepEqual(await docker.listVolumes({ 'knit.instance': s.instance }), [], 'its volumes are gone');
  t.deepEqual(await readdir(workdir), ['scratch-now'], 'an old scratch folder is gone, a fresh one kept');
  t.deepEqual(await readLiveLogChunks(s.db.pool, run!.id, 1, -1, 10), [], 'the live log of its finished attempt is gone');
});
