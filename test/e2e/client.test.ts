import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// What another service imports: the package's typed client and workflow names.
import { KnitClient, runWorkflowId, type RunResult } from '../../client/index.js';
import { TestStack, TEST_IMAGE } from '../helpers/stack.js';

let s: TestStack;
test.before(async () => {
  s = await TestStack.start();
});
test.after.always(() => s?.close());

test('another service pushes data, applies a plan and awaits the run through the API and through Temporal', async (t) => {
  const knit = new KnitClient({ server: s.url });
  const dir = await mkdtemp(join(tmpdir(), 'knit-svc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'features.csv'), 'a,b\n1,2\n');
  const applied = await knit.applyPlan({
    image: TEST_IMAGE,
    entrypoint: ['sh', '-c'],
    args: ['wc -l < /in/features/features.csv > /out/stats/lines'],
    inputs: [{ path: '/in/features', tags: ['svc:features'] }],
    outputs: [{ path: '/out/stats', tags: ['svc:stats'] }],
  });
  const data = await knit.pushDirectory(dir, ['svc:features']);
  const [run] = await s.waitRuns('the run to exist', (rs) => rs.length === 1, { plans: [applied.plan!.id] });
  t.deepEqual(run!.inputs.map((i) => i.dataId), [data.id]);

  // Through the API: the run, done, with its output. (First: the run row exists a moment before
  // the matcher starts its workflow, so asking Temporal first could find no workflow yet.)
  const done = await knit.waitRun(run!.id);
  t.is(done.status, 'done');
  // Through Temporal: the same run is the workflow run-<id>; its result says how it ended.
  const result = (await s.temporal.workflow.getHandle(runWorkflowId(run!.id)).result()) as RunResult;
  t.is(result.status, 'done');
  const stats = await knit.findData({ tags: ['svc:stats'] });
  t.deepEqual(stats.map((d) => d.id), [done.outputs[0]!.dataId]);
});
