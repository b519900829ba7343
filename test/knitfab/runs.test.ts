import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KfDataDetail, KfPlanDetail, KfRunDetail } from '../../api/knitfab/shapes.js';
import { parseJson } from '../helpers/cli.js';
import { knitfabProject } from '../helpers/knitfab-cli.js';
import { TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// Knitfab's own CLI drives runs on a whole knit (API, Temporal, worker, Docker): the run a push
// starts is found, shown, retried; one that sleeps is stopped; a run whose output is in use cannot
// be removed, and an upload is a run of knit#uploaded for its lineage.
test('Knitfab\'s CLI finds, shows, retries, stops and removes runs', async (t) => {
  t.timeout(5 * 60_000);
  const s = await TestStack.start();
  t.teardown(() => s.close());
  const kf = await knitfabProject(s.url, undefined);
  t.teardown(() => kf.close());
  await writeFile(
    join(kf.dir, 'copy.yaml'),
    'image: "knit-test/busybox:1"\nentrypoint: ["sh", "-c"]\nargs: ["cat /in/x/n > /out/y/n; echo copied"]\ninputs:\n  - path: "/in/x"\n    tags: ["kfrun:in"]\noutputs:\n  - path: "/out/y"\n    tags: ["kfrun:out"]\nlog:\n  tags: ["kfrun:log"]\nresources:\n  cpu: "0.1"\n  memory: "64Mi"\n',
  );
  await writeFile(
    join(kf.dir, 'use.yaml'),
    'image: "knit-test/busybox:1"\nentrypoint: ["sh", "-c"]\nargs: ["cat /in/x/n > /out/z/n"]\ninputs:\n  - path: "/in/x"\n    tags: ["kfrun:out"]\noutputs:\n  - path: "/out/z"\n    tags: ["kfrun:used"]\nresources:\n  cpu: "0.1"\n  memory: "64Mi"\n',
  );
  const copy = KfPlanDetail.parse(parseJson(await kf.run(['plan', 'apply', 'copy.yaml'])));
  const use = KfPlanDetail.parse(parseJson(await kf.run(['plan', 'apply', 'use.yaml'])));
  await mkdir(join(kf.dir, 'in'));
  await writeFile(join(kf.dir, 'in', 'n'), '7\n');
  const data = KfDataDetail.parse(parseJson(await kf.run(['data', 'push', '-t', 'kfrun:in', 'in'])));

  const done = async (plan: string) =>
    waitFor(`a done run of ${plan}`, async () => {
      const r = await kf.run(['run', 'find', '-p', plan, '-s', 'done']);
      const runs = r.code === 0 ? parseJson<unknown[]>(r).map((x) => KfRunDetail.parse(x)) : [];
      return runs[0];
    }, 120_000, 500);
  const first = await done(copy.planId);
  t.deepEqual(first.inputs.map((i) => [i.path, i.knitId, i.tags]), [['/in/x', data.knitId, ['kfrun:in']]]);
  t.is(first.outputs[0]!.path, '/out/y');
  t.deepEqual(first.log?.tags, ['kfrun:log']);
  t.deepEqual(first.exit, { code: 0, message: '' });
  const shown = KfRunDetail.parse(parseJson(await kf.run(['run', 'show', first.runId])));
  t.is(shown.runId, first.runId);
  // The log as the container wrote it: no time or stream columns, none of knit's notes.
  const log = await kf.run(['run', 'show', '--log', first.runId]);
  t.is(log.code, 0, log.stderr);
  t.is(log.stdout, 'copied\n');
  const used = await done(use.planId);

  // Data links carry their mounts' paths and the plans' tags for them, as Knitfab's do.
  const [output] = parseJson<unknown[]>(await kf.run(['data', 'find', '-t', 'kfrun:out'])).map((x) => KfDataDetail.parse(x));
  t.deepEqual(output!.upstream.mountpoint, { path: '/out/y', tags: ['kfrun:out'] });
  t.is(output!.upstream.run.runId, first.runId);
  t.deepEqual(output!.downstreams.map((d) => [d.run.runId, d.mountpoint.path, d.mountpoint.tags]), [[used.runId, '/in/x', ['kfrun:out']]]);
  const [logData] = parseJson<unknown[]>(await kf.run(['data', 'find', '-t', 'kfrun:log'])).map((x) => KfDataDetail.parse(x));
  t.deepEqual(logData!.upstream.log, { tags: ['kfrun:log'] });

  // The upload's pseudo run, which Knitfab's lineage reads.
  const upload = KfRunDetail.parse(parseJson(await kf.run(['run', 'show', data.upstream.run.runId])));
  t.is(upload.plan.name, 'knit#uploaded');
  t.deepEqual(upload.outputs.map((o) => o.knitId), [data.knitId]);

  // Knitfab's lineage, built by its CLI from the Data and run routes: the upload, the run, its output.
  const lineage = await kf.run(['data', 'lineage', '-d', '-n', 'all', data.knitId]);
  t.is(lineage.code, 0, lineage.stderr);
  t.regex(lineage.stdout, /digraph/);
  for (const id of [data.knitId, first.runId, first.outputs[0]!.knitId]) t.true(lineage.stdout.includes(id), `${id} in\n${lineage.stdout}`);
  const up = await kf.run(['data', 'lineage', '-u', first.outputs[0]!.knitId]);
  t.is(up.code, 0, up.stderr);
  t.true(up.stdout.includes(data.knitId) && up.stdout.includes('knit#uploaded'), up.stdout);

  // Its output feeds the other plan's run: removing it is refused.
  const rm = await kf.run(['run', 'rm', first.runId]);
  t.is(rm.code, 1, rm.stdout);
  t.regex(rm.stderr, /conflict|in use|downstream/i);

  // Retry of the downstream run (nothing reads its output) starts it again, and it ends done.
  const useRun = (await kf.run(['run', 'find', '-p', use.planId])).stdout;
  const useId = KfRunDetail.parse(parseJson<unknown[]>({ code: 0, stdout: useRun, stderr: '' })[0]).runId;
  const retried = await kf.run(['run', 'retry', useId]);
  t.is(retried.code, 0, retried.stderr);
  await waitFor('the retried run to be done again', async () => (await s.client.getRun(useId)).status === 'done' && (await s.client.getRun(useId)).attempt === 2, 120_000, 500);

  // A run that never ends by itself, stopped with --fail.
  await writeFile(join(kf.dir, 'sleep.yaml'), 'image: "knit-test/busybox:1"\nentrypoint: ["sh", "-c"]\nargs: ["sleep 600"]\ninputs:\n  - path: "/in/x"\n    tags: ["kfrun:in"]\noutputs: []\nresources:\n  cpu: "0.1"\n  memory: "64Mi"\n');
  const sleeper = KfPlanDetail.parse(parseJson(await kf.run(['plan', 'apply', 'sleep.yaml'])));
  const running = await waitFor('the sleeping run to run', async () => {
    const r = await kf.run(['run', 'find', '-p', sleeper.planId, '-s', 'running']);
    return r.code === 0 ? parseJson<Array<{ runId: string }>>(r)[0] : undefined;
  }, 120_000, 500);
  const stop = await kf.run(['run', 'stop', '--fail', running.runId]);
  t.is(stop.code, 0, stop.stderr);
  await waitFor('the stopped run to fail', async () => (await s.client.getRun(running.runId)).status === 'failed', 120_000, 500);

  // The removable run (its output unused) goes.
  const removed = await kf.run(['run', 'rm', useId]);
  t.is(removed.code, 0, removed.stderr);
  t.is((await s.client.getRun(useId)).status, 'invalidated');
});
