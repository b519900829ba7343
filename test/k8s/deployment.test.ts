import test from 'ava';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lineage } from '../../core/lineage/graph.js';
import { parseJson, repoRoot, runKnit, type CliResult } from '../helpers/cli.js';
import { kubectl } from '../helpers/cluster.js';
import { deployKnit } from '../helpers/deployment.js';
import { waitFor } from '../helpers/wait.js';

const IRIS = ['sepal_length,sepal_width,species', '5.1,3.5,setosa', '4.9,3.0,setosa', '7.0,3.2,versicolor', '6.4,3.2,versicolor', '6.3,3.3,virginica', '5.8,2.7,virginica', ''].join('\n');

function ok(r: CliResult, what: string): CliResult {
  if (r.code !== 0) throw new Error(`${what}: knit exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

// The "done when": knit deployed by its own manifests (k8s/overlays/ci, applied with
// kubectl apply -k) runs the sample pipeline in the CI cluster with its Data in GCS, driven by
// the knit CLI from outside the cluster through the knitd Service's NodePort.
test('knit deployed by its own manifests runs the sample pipeline on GCS, driven by the knit CLI from outside', async (t) => {
  t.timeout(10 * 60_000);
  const d = await deployKnit({ knitd: 2, workers: 2 });
  t.teardown(() => d.close());
  t.is((await d.pods('knitd')).filter((p) => p.ready).length, 2);
  t.is((await d.pods('knit-worker')).filter((p) => p.ready).length, 2);

  const env = { KNIT_SERVER: d.url, KNIT_TOKEN: d.token };
  const knit = async (args: string[]) => ok(await runKnit(args, { env }), `knit ${args.join(' ')}`);
  const work = await mkdtemp(join(tmpdir(), 'knit-deploy-iris-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  await mkdir(join(work, 'iris'));
  await writeFile(join(work, 'iris', 'iris.csv'), IRIS);

  const dataset = parseJson<{ id: string }>(await knit(['data', 'push', '-t', 'project:iris', '-t', 'type:dataset', '-n', join(work, 'iris')]));
  const train = parseJson<{ id: string }>(await knit(['plan', 'apply', join(repoRoot, 'examples/iris/train.yaml')]));
  const evaluate = parseJson<{ id: string }>(await knit(['plan', 'apply', join(repoRoot, 'examples/iris/evaluate.yaml')]));

  type RunJson = { id: string; status: string; plan: { id: string }; outputs: Array<{ dataId?: string }>; log: { dataId?: string } };
  const runsOf = async (plan: string) => parseJson<RunJson[]>(await knit(['run', 'find', '-p', plan, '--json']));
  let trainRun: RunJson | undefined;
  let evalRun: RunJson | undefined;
  try {
    await waitFor('the train run, then the evaluate run, to end', async () => {
      [trainRun] = await runsOf(train.id);
      [evalRun] = await runsOf(evaluate.id);
      return [trainRun, evalRun].every((r) => r !== undefined && ['done', 'failed', 'invalidated'].includes(r.status));
    }, 300_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await d.diagnostics()}`);
  }
  t.is(trainRun!.status, 'done');
  t.is(evalRun!.status, 'done');

  const out = join(work, 'out');
  await knit(['data', 'pull', '-x', trainRun!.outputs[0]!.dataId!, out]);
  const model = await readFile(join(out, trainRun!.outputs[0]!.dataId!, 'model.txt'), 'utf8');
  t.is(model, 'setosa 5.000\nversicolor 6.700\nvirginica 6.050\n');
  const log = await knit(['run', 'log', trainRun!.id]);
  t.regex(log.stdout, /training on 6 samples/);

  const lineage = parseJson<Lineage>(await knit(['data', 'lineage', '-u', '-n', 'all', '--format', 'json', evalRun!.outputs[0]!.dataId!]));
  t.true(lineage.edges.some((e) => e.from === dataset.id && e.to === trainRun!.id));
  t.true(lineage.edges.some((e) => e.from === trainRun!.outputs[0]!.dataId && e.to === evalRun!.id));

  // The Data live in the bucket, not on any Pod's disk.
  const [objects] = await d.gcs.storage.bucket(d.bucket).getFiles();
  const keys = objects.map((o) => o.name);
  for (const id of [dataset.id, trainRun!.outputs[0]!.dataId!, evalRun!.outputs[0]!.dataId!]) {
    const { rows } = await d.db.pool.query<{ blob_key: string }>('SELECT blob_key FROM data WHERE id = $1', [id]);
    t.true(keys.includes(rows[0]!.blob_key), `Data ${id} is in the bucket`);
  }
  // Run Pods go once their runs have ended; knit's own Pods stay.
  await waitFor('the Runs\' Pods to be removed', async () => (await d.kubectl(['get', 'pods', '-l', `knit.instance=${d.instance}`, '-o', 'name'])).trim() === '', 60_000);
});

// Every overlay must be accepted by a real API server as it stands (schemas, admission, RBAC
// objects), not only render: a server-side dry run of each, into its own namespace.
test('kubectl apply --dry-run=server accepts every overlay in k8s/overlays', async (t) => {
  const overlays = (await readdir(join(repoRoot, 'k8s', 'overlays'), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  t.true(overlays.includes('ci') && overlays.includes('gke'), overlays.join(', '));
  const version = (JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const phase = async (ns: string) => (await kubectl(['get', 'namespace', ns, '--ignore-not-found', '-o', 'jsonpath={.status.phase}'])).trim();
  const created: string[] = [];
  try {
    for (const overlay of overlays) {
      const dir = join(repoRoot, 'k8s', 'overlays', overlay);
      const rendered = await kubectl(['kustomize', dir]);
      const namespaces = [...new Set([...rendered.matchAll(/^ {2}namespace: (\S+)$/gm)].map((m) => m[1]!))];
      t.is(namespaces.length, 1, `${overlay}: everything in one namespace (${namespaces.join(', ')})`);
      // The image tags follow the package version, which names the image the scripts build.
      for (const m of rendered.matchAll(/image: \S+\/knit:(\S+)$/gm)) t.is(m[1], version, `${overlay}: ${m[0]}`);
      // Namespaced objects can be dry-run only into a namespace that exists (and is not being
      // deleted): make it for real when needed, and delete it at the end.
      const ns = namespaces[0]!;
      await waitFor(`namespace ${ns} to finish terminating`, async () => (await phase(ns)) !== 'Terminating', 120_000);
      if ((await phase(ns)) === '') {
        await kubectl(['create', 'namespace', ns, '--save-config']);
        created.push(ns);
      }
      const out = await kubectl(['apply', '-k', dir, '--dry-run=server']);
      for (const kind of ['deployment.apps/knitd', 'deployment.apps/knit-worker', 'service/knitd', 'role.rbac.authorization.k8s.io/knit-worker']) {
        t.regex(out, new RegExp(`${kind.replace(/\./g, '\\.')} (created|configured|unchanged) \\(server dry run\\)`), `${overlay}: ${kind}`);
      }
    }
  } finally {
    for (const ns of created) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  }
});
