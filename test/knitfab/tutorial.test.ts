import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { KfDataDetail, KfPlanDetail, KfRunDetail } from '../../api/knitfab/shapes.js';
import { parseJson } from '../helpers/cli.js';
import { knitfabProject, type KnitfabProject } from '../helpers/knitfab-cli.js';
import { TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Knitfab's getting-started tutorial (knitfab-docs, 01.getting-started), step by step with
 * Knitfab's own CLI against knitd: push a training set; make a plan template from the image's
 * `docker save`; edit and apply it; wait for the run; read its log; pull the model; push a test
 * set; template, apply and run the evaluation; draw the lineage and the plan graph with Graphviz.
 * The tutorial's images are MNIST trainers in Python; here they are busybox scripts with the same
 * mounts, so the test needs no registry and runs in seconds.
 */

const TRAIN_IMAGE = 'knit-test/kf-tutorial-train:1.0';
const EVAL_IMAGE = 'knit-test/kf-tutorial-validation:1.0';

/**
 * An image like the tutorial's: the test image with an entrypoint, a command and VOLUMEs for its
 * mounts (where Knitfab's template looks for inputs and outputs). The script reaches its folders
 * through variables: a path in the command would be taken for a mount too.
 */
function tutorialImage(tag: string, env: string[], volumes: string[], script: string): void {
  const created = execFileSync('docker', ['create', 'knit-test/busybox:1', 'true'], { encoding: 'utf8' }).trim();
  try {
    const changes = [
      'ENTRYPOINT ["sh", "-c"]',
      `CMD [${JSON.stringify(script)}]`,
      'ENV PATH=/bin',
      ...env.map((e) => `ENV ${e}`),
      ...volumes.map((v) => `VOLUME ${v}`),
    ].flatMap((c) => ['--change', c]);
    const rootfs = execFileSync('docker', ['export', created], { maxBuffer: 64 << 20 });
    execFileSync('docker', ['import', ...changes, '-', tag], { input: rootfs, stdio: ['pipe', 'ignore', 'inherit'] });
  } finally {
    execFileSync('docker', ['rm', created], { stdio: 'ignore' });
  }
}

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** `knit … | dot -T png -o FILE`, as the tutorial draws its pictures. */
async function drawn(kf: KnitfabProject, args: string[], file: string): Promise<Buffer> {
  const out = await kf.run(args);
  if (out.code !== 0) throw new Error(`knit ${args.join(' ')} failed: ${out.stderr}`);
  const dot = spawnSync('dot', ['-Tpng', '-o', join(kf.dir, file)], { input: out.stdout });
  if (dot.status !== 0) throw new Error(`dot refused the graph of knit ${args.join(' ')}: ${dot.stderr.toString()}\n${out.stdout}`);
  return readFile(join(kf.dir, file));
}

/** A plan file made by `docker save IMAGE | knit plan template`, edited as the tutorial does. */
async function planFromImage(kf: KnitfabProject, image: string, file: string, edit: (plan: Record<string, any>) => void): Promise<void> {
  const archive = execFileSync('docker', ['save', image], { maxBuffer: 64 << 20 });
  const made = await kf.run(['plan', 'template'], { input: archive });
  if (made.code !== 0) throw new Error(`plan template failed: ${made.stderr}`);
  const plan = parse(made.stdout) as Record<string, any>;
  edit(plan);
  await writeFile(join(kf.dir, file), stringify(plan));
}

test('Knitfab\'s getting-started tutorial runs through with Knitfab\'s own CLI', async (t) => {
  t.timeout(5 * 60_000);
  tutorialImage(TRAIN_IMAGE, ['DATASET=/in/dataset', 'MODEL=/out/model'], ['/in/dataset', '/out/model'], 'echo training on $(ls $DATASET | wc -l) files; cat $DATASET/* | wc -l > $MODEL/model.txt; echo trained');
  tutorialImage(EVAL_IMAGE, ['DATASET=/in/dataset', 'MODEL=/in/model', 'METRICS=/out/metrics'], ['/in/dataset', '/in/model', '/out/metrics'], 'echo "model $(cat $MODEL/model.txt) on $(cat $DATASET/* | wc -l) test lines" > $METRICS/metrics.txt; echo evaluated');
  t.teardown(() => execFileSync('docker', ['rmi', TRAIN_IMAGE, EVAL_IMAGE], { stdio: 'ignore' }));
  const s = await TestStack.start();
  t.teardown(() => s.close());
  // knit init with the handout's profile.
  const kf = await knitfabProject(s.url, undefined);
  t.teardown(() => kf.close());

  // Uploading Data.
  await mkdir(join(kf.dir, 'data', 'qmnist-train'), { recursive: true });
  for (let i = 0; i < 3; i++) await writeFile(join(kf.dir, 'data', 'qmnist-train', `part-${i}.csv`), `${i},a\n${i},b\n`);
  const pushed = await kf.run(['data', 'push', '-t', 'format:mnist', '-t', 'mode:training', '-t', 'type:dataset', '-t', 'project:first-Knitfab', '-n', './data/qmnist-train']);
  t.is(pushed.code, 0, pushed.stderr);
  const train = KfDataDetail.parse(parseJson(pushed));
  t.true(train.tags.includes('name:qmnist-train'), train.tags.join(' '));

  // A plan from the image, the inputs and outputs found from its VOLUMEs, edited as the tutorial says.
  await planFromImage(kf, TRAIN_IMAGE, 'knitfab-first-train.v1.0.plan.yaml', (plan) => {
    t.is(plan['image'], TRAIN_IMAGE);
    t.deepEqual(plan['inputs'], [{ path: '/in/dataset', tags: ['type:dataset'] }]);
    t.deepEqual(plan['outputs'], [{ path: '/out/model', tags: ['type:model'] }]);
    plan['inputs'][0].tags.push('project:first-Knitfab', 'mode:training');
    plan['outputs'][0].tags.push('project:first-Knitfab', 'description:2 layer CNN');
    plan['log'] = { tags: ['type:log', 'project:first-Knitfab'] };
    plan['resources'] = { cpu: '0.5', memory: '128Mi' };
  });
  const applied = await kf.run(['plan', 'apply', './knitfab-first-train.v1.0.plan.yaml']);
  t.is(applied.code, 0, applied.stderr);
  const trainPlan = KfPlanDetail.parse(parseJson(applied));

  // Wait for the run: the tutorial polls `knit run find`.
  const doneRunOf = (planId: string) =>
    waitFor(`a done run of ${planId}`, async () => {
      const found = await kf.run(['run', 'find', '-p', planId]);
      const runs = found.code === 0 ? parseJson<unknown[]>(found).map((x) => KfRunDetail.parse(x)) : [];
      const failed = runs.find((r) => r.status === 'failed');
      if (failed) throw new Error(`run ${failed.runId} failed: ${JSON.stringify(failed.exit)}`);
      return runs.find((r) => r.status === 'done');
    }, 120_000, 500);
  const trainRun = await doneRunOf(trainPlan.planId);
  const log = await kf.run(['run', 'show', '--log', trainRun.runId]);
  t.is(log.code, 0, log.stderr);
  t.is(log.stdout, 'training on 3 files\ntrained\n');

  // Download the model.
  const shown = KfRunDetail.parse(parseJson(await kf.run(['run', 'show', trainRun.runId])));
  const model = shown.outputs.find((o) => o.path === '/out/model')!;
  t.deepEqual(model.tags.sort(), ['description:2 layer CNN', 'project:first-Knitfab', 'type:model']);
  const pulled = await kf.run(['data', 'pull', '-x', model.knitId, './knitfab/out/model']);
  t.is(pulled.code, 0, pulled.stderr);
  t.deepEqual(await readdir(join(kf.dir, 'knitfab', 'out', 'model', model.knitId)), ['model.txt']);
  t.is((await readFile(join(kf.dir, 'knitfab', 'out', 'model', model.knitId, 'model.txt'), 'utf8')).trim(), '6');

  // Register the test set and the evaluation plan; its run starts on its own.
  await mkdir(join(kf.dir, 'data', 'qmnist-test'), { recursive: true });
  await writeFile(join(kf.dir, 'data', 'qmnist-test', 'part-0.csv'), 'x\ny\nz\nw\n');
  const testSet = await kf.run(['data', 'push', '-t', 'format:mnist', '-t', 'mode:test', '-t', 'type:dataset', '-t', 'project:first-Knitfab', '-n', './data/qmnist-test']);
  t.is(testSet.code, 0, testSet.stderr);
  await planFromImage(kf, EVAL_IMAGE, 'knitfab-first-validation.v1.0.plan.yaml', (plan) => {
    const input = (path: string) => plan['inputs'].find((i: { path: string }) => i.path === path);
    input('/in/dataset').tags.push('project:first-Knitfab', 'mode:test');
    input('/in/model').tags.push('project:first-Knitfab');
    plan['outputs'][0].tags.push('project:first-Knitfab');
    plan['resources'] = { cpu: '0.5', memory: '128Mi' };
  });
  const evalApplied = await kf.run(['plan', 'apply', './knitfab-first-validation.v1.0.plan.yaml']);
  t.is(evalApplied.code, 0, evalApplied.stderr);
  const evalPlan = KfPlanDetail.parse(parseJson(evalApplied));
  const evalRun = await doneRunOf(evalPlan.planId);
  const metrics = evalRun.outputs.find((o) => o.path === '/out/metrics')!;
  const pulledMetrics = await kf.run(['data', 'pull', '-x', metrics.knitId, './knitfab/out/metrics']);
  t.is(pulledMetrics.code, 0, pulledMetrics.stderr);
  t.is(await readFile(join(kf.dir, 'knitfab', 'out', 'metrics', metrics.knitId, 'metrics.txt'), 'utf8'), 'model 6 on 4 test lines\n');

  // The lineage of the metrics back to both uploads, and the pipeline of the two plans, as pictures.
  const lineage = await kf.run(['data', 'lineage', '-n', 'all', metrics.knitId]);
  t.is(lineage.code, 0, lineage.stderr);
  for (const id of [metrics.knitId, evalRun.runId, model.knitId, trainRun.runId, train.knitId]) t.true(lineage.stdout.includes(id), `${id} in the lineage:\n${lineage.stdout}`);
  const lineagePng = await drawn(kf, ['data', 'lineage', '-n', 'all', metrics.knitId], 'lineage-graph.png');
  t.deepEqual(lineagePng.subarray(0, 8), PNG);
  const graph = await kf.run(['plan', 'graph', '-n', 'all', trainPlan.planId]);
  t.is(graph.code, 0, graph.stderr);
  t.true(graph.stdout.includes(evalPlan.planId), `the evaluation plan downstream of the training plan:\n${graph.stdout}`);
  const graphPng = await drawn(kf, ['plan', 'graph', '-n', 'all', trainPlan.planId], 'plan-graph.png');
  t.deepEqual(graphPng.subarray(0, 8), PNG);
});
