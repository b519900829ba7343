import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KfPlanDetail } from '../../api/knitfab/shapes.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { parseJson } from '../helpers/cli.js';
import { knitfabProject, type KnitfabProject } from '../helpers/knitfab-cli.js';

const TOKEN = 'knitfab-plan-token';
let api: TestApi;
let kf: KnitfabProject;
test.before(async () => {
  api = await startTestApi({ token: TOKEN });
  kf = await knitfabProject(api.url, TOKEN);
});
test.after.always(async () => {
  await kf?.close();
  await api?.close();
});

const PREPARE = `image: "knit-test/busybox:1"
entrypoint: ["sh", "-c"]
args: ["cp -r /in/raw/. /out/clean/"]
inputs:
  - path: "/in/raw"
    tags: ["kfplan:raw"]
outputs:
  - path: "/out/clean"
    tags: ["kfplan:clean"]
log:
  tags: ["kfplan:log"]
annotations:
  - "owner=ml-team"
`;
const TRAIN = `image: "knit-test/busybox:1"
entrypoint: ["sh", "-c"]
args: ["ls /in/data > /out/model/list"]
inputs:
  - path: "/in/data"
    tags: ["kfplan:clean"]
outputs:
  - path: "/out/model"
    tags: ["kfplan:model"]
resources:
  cpu: "0.5"
`;

// Knitfab's own CLI applies, shows, finds and switches plans; the links between plans are on
// each mount, as its plan graph walks them.
test.serial('Knitfab\'s CLI applies two chained plans, shows their links, finds and deactivates them', async (t) => {
  await writeFile(join(kf.dir, 'prepare.yaml'), PREPARE);
  await writeFile(join(kf.dir, 'train.yaml'), TRAIN);
  const a = await kf.run(['plan', 'apply', 'prepare.yaml']);
  t.is(a.code, 0, a.stderr);
  const prepare = KfPlanDetail.parse(parseJson(a));
  t.true(prepare.active);
  // Knitfab's defaults for a plan that names no resources.
  t.deepEqual(prepare.resources, { cpu: '1', memory: '1Gi' });
  t.deepEqual(prepare.annotations, ['owner=ml-team']);
  const b = await kf.run(['plan', 'apply', 'train.yaml']);
  t.is(b.code, 0, b.stderr);
  const train = KfPlanDetail.parse(parseJson(b));
  t.deepEqual(train.resources, { cpu: '500m', memory: '1Gi' });
  t.deepEqual(train.inputs[0]!.upstreams.map((u) => [u.plan.planId, u.mountpoint?.path]), [[prepare.planId, '/out/clean']]);

  const shown = KfPlanDetail.parse(parseJson(await kf.run(['plan', 'show', prepare.planId])));
  t.deepEqual(shown.outputs[0]!.downstreams.map((d) => [d.plan.planId, d.mountpoint.path]), [[train.planId, '/in/data']]);
  t.deepEqual(shown.log?.tags, ['kfplan:log']);

  // The same plan again is refused, and the answer names the one that exists.
  const again = await kf.run(['plan', 'apply', 'prepare.yaml']);
  t.is(again.code, 1);
  t.regex(again.stderr, new RegExp(prepare.planId));

  const byImage = parseJson<Array<{ planId: string }>>(await kf.run(['plan', 'find', '--image', 'knit-test/busybox']));
  t.deepEqual(byImage.map((p) => p.planId).sort(), [prepare.planId, train.planId].sort());
  const byIn = parseJson<Array<{ planId: string }>>(await kf.run(['plan', 'find', '--in-tag', 'kfplan:clean']));
  t.deepEqual(byIn.map((p) => p.planId), [train.planId]);

  const off = await kf.run(['plan', 'active', 'no', train.planId]);
  t.is(off.code, 0, off.stderr);
  t.false(KfPlanDetail.parse(parseJson(off)).active);
  const inactive = parseJson<Array<{ planId: string }>>(await kf.run(['plan', 'find', '--active', 'no']));
  t.deepEqual(inactive.map((p) => p.planId), [train.planId]);
  t.false((await api.client.getPlan(train.planId)).active);

  const graph = await kf.run(['plan', 'graph', '-n', 'all', prepare.planId]);
  t.is(graph.code, 0, graph.stderr);
  t.regex(graph.stdout, /digraph/);
  t.true(graph.stdout.includes(train.planId) || graph.stdout.includes(train.planId.slice(0, 8)), graph.stdout);
});

test('a plan Knitfab\'s CLI cannot find says so', async (t) => {
  const r = await kf.run(['plan', 'show', '00000000-0000-4000-8000-000000000000']);
  t.is(r.code, 1);
  t.regex(r.stderr, /not found/);
});

test.serial('Knitfab\'s CLI changes a plan\'s resources, annotations and service account', async (t) => {
  await writeFile(join(kf.dir, 'mutable.yaml'), PREPARE.replace('kfplan:raw', 'kfplan:mutable-raw').replace('kfplan:clean', 'kfplan:mutable').replace('kfplan:log', 'kfplan:mutable-log'));
  const plan = KfPlanDetail.parse(parseJson(await kf.run(['plan', 'apply', 'mutable.yaml'])));
  const res = await kf.run(['plan', 'resource', '--set', 'cpu=2', '--set', 'memory=2Gi', plan.planId]);
  t.is(res.code, 0, res.stderr);
  t.deepEqual(KfPlanDetail.parse(parseJson(res)).resources, { cpu: '2', memory: '2Gi' });
  // Unsetting cpu falls back to Knitfab's default.
  const unset = await kf.run(['plan', 'resource', '--unset', 'cpu', plan.planId]);
  t.is(unset.code, 0, unset.stderr);
  t.deepEqual(KfPlanDetail.parse(parseJson(unset)).resources, { cpu: '1', memory: '2Gi' });

  const ann = await kf.run(['plan', 'annotate', '--add', 'stage=beta', '--remove', 'owner=ml-team', plan.planId]);
  t.is(ann.code, 0, ann.stderr);
  t.deepEqual(KfPlanDetail.parse(parseJson(ann)).annotations, ['stage=beta']);

  const sa = await kf.run(['plan', 'serviceaccount', '--set', 'trainer', plan.planId]);
  t.is(sa.code, 0, sa.stderr);
  t.is(KfPlanDetail.parse(parseJson(sa)).service_account, 'trainer');
  t.is((await api.client.getPlan(plan.planId)).service_account, 'trainer');
  const noSa = await kf.run(['plan', 'serviceaccount', '--unset', plan.planId]);
  t.is(noSa.code, 0, noSa.stderr);
  t.is(KfPlanDetail.parse(parseJson(noSa)).service_account, undefined);

  // A name Kubernetes would refuse is refused now, naming the field.
  const bad = await fetch(new URL(`/api/plans/${plan.planId}/serviceaccount`, api.url), { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ serviceAccount: 'Not_A_Name' }) });
  t.is(bad.status, 400);
  t.regex(((await bad.json()) as { error: { message: string } }).error.message, /serviceAccount/);
});
