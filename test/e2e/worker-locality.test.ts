import test from 'ava';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestStack, terminal } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * An attempt never relies on one worker's disk across its steps. Two workers with different work
 * directories share one Temporal and one PostgreSQL: the first stages the inputs and creates the
 * container, then dies as it takes the container wait; the second runs the container and collects
 * its outputs. Were inputs or outputs kept in the first worker's folder, the second would store
 * an empty output (or the container would read empty inputs).
 */
test('a run staged by one worker and finished by another, with a different work directory, keeps its inputs and outputs', async (t) => {
  const s = await TestStack.start({ workerEnv: { KNIT_STEP_TIMEOUT: '6s' } });
  t.teardown(() => s.close());
  const dirA = await tempDir('knit-worker-a-');
  const dirB = await tempDir('knit-worker-b-');
  const pulled = await tempDir('knit-pulled-');
  t.teardown(async () => {
    await dirA.cleanup();
    await dirB.cleanup();
    await pulled.cleanup();
  });
  const marker = join(s.home, 'fault-happened');
  await s.stopWorker();
  await s.startWorker({ KNIT_WORKDIR: dirA.path, KNIT_FAULT: 'runContainer:before', KNIT_FAULT_MARKER: marker });
  const crashed = new Promise<void>((resolve) => s.worker!.once('exit', () => resolve()));

  const plan = await s.plan({
    script: 'cat /in/sub/x.txt /in/y.txt > /out/o/copy.txt && ls /in > /out/o/listing.txt',
    inputs: [{ path: '/in', tags: ['locality:input'] }],
    outputs: [{ path: '/out/o', tags: ['locality:output'] }],
  });
  await s.push({ 'sub/x.txt': 'staged by worker A\n', 'y.txt': 'read in the container\n' }, ['locality:input']);
  await crashed;
  t.true(existsSync(marker), 'worker A died as it took the container wait, after staging and creating');

  await s.startWorker({ KNIT_WORKDIR: dirB.path });
  const [run] = await s.waitRuns('the run to end', (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [plan.id] });
  t.is(run!.status, 'done', `${run!.message}\n${s.workerLog.slice(-3000)}`);

  const out = run!.outputs.find((o) => o.path === '/out/o')!.dataId!;
  const root = (await s.client.pullData(out, pulled.path, { extract: true })).path;
  t.is(await readFile(join(root, 'copy.txt'), 'utf8'), 'staged by worker A\nread in the container\n');
  t.is(await readFile(join(root, 'listing.txt'), 'utf8'), 'sub\ny.txt\n');
  t.deepEqual(await readdir(dirA.path), [], 'worker A keeps nothing of the attempt on its disk');
  t.deepEqual(await readdir(dirB.path), [], 'worker B neither');
});
