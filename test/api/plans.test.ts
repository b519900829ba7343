import test from 'ava';
import { request } from 'node:http';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { KnitError } from '../../core/errors/knit-error.js';

let api: TestApi;
test.before(async () => {
  api = await startTestApi();
});
test.after.always(() => api?.close());

const base = {
  image: 'repo/trainer:1.0',
  inputs: [{ path: '/in/data', tags: ['type:dataset'] }],
  outputs: [{ path: '/out/model', tags: ['type:model'] }],
};

function post(path: string, body: unknown): Promise<{ status: number; body: { error?: { code: string; message: string; field?: string; details?: Record<string, unknown> } } & Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const req = request(new URL(path, api.url), { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': payload.length } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const invalid: Array<[string, unknown, string, RegExp]> = [
  ['no image tag', { ...base, image: 'busybox' }, 'image', /NAME:TAG/],
  ['bad image', { ...base, image: 'Not An Image:1' }, 'image', /not an image name/],
  ['no inputs', { ...base, inputs: [] }, 'inputs', /at least one input/],
  ['relative path', { ...base, inputs: [{ path: 'in/data', tags: ['a:b'] }] }, 'inputs[0].path', /must be absolute/],
  ['unclean path', { ...base, inputs: [{ path: '/in/../etc', tags: ['a:b'] }] }, 'inputs[0].path', /clean path/],
  ['trailing slash', { ...base, inputs: [{ path: '/in/data/', tags: ['a:b'] }] }, 'inputs[0].path', /clean path/],
  ['root path', { ...base, inputs: [{ path: '/', tags: ['a:b'] }] }, 'inputs[0].path', /root/],
  ['runtime path', { ...base, outputs: [{ path: '/proc/x', tags: [] }] }, 'outputs[0].path', /container runtime/],
  ['input without tags', { ...base, inputs: [{ path: '/in/a', tags: [] }] }, 'inputs[0].tags', /at least one tag/],
  ['bad input tag', { ...base, inputs: [{ path: '/in/a', tags: ['nocolon'] }] }, 'inputs[0].tags[0]', /KEY:VALUE/],
  ['transient selector', { ...base, inputs: [{ path: '/in/a', tags: ['knit#transient:failed'] }] }, 'inputs[0].tags[0]', /cannot be used to select/],
  ['system output tag', { ...base, outputs: [{ path: '/out/a', tags: ['knit#id:x'] }] }, 'outputs[0].tags[0]', /reserved/],
  [
    'overlapping mounts',
    { ...base, inputs: [{ path: '/in', tags: ['a:b'] }, { path: '/in/x', tags: ['c:d'] }] },
    'inputs[1].path',
    /overlaps inputs\[0\]\.path/,
  ],
  ['output over input', { ...base, outputs: [{ path: '/in/data', tags: [] }] }, 'outputs[0].path', /overlaps inputs\[0\]\.path/],
  ['bad resource', { ...base, resources: { cpu: 'lots' } }, 'resources.cpu', /quantity/],
  ['bad annotation', { ...base, annotations: ['no-equals'] }, 'annotations[0]', /key=value/],
  ['unknown field', { ...base, input: [] }, 'input', /not a known parameter or field/],
  ['bad on_node', { ...base, on_node: { must: ['gpu'] } }, 'on_node.must[0]', /key=value/],
];

for (const [name, spec, field, message] of invalid) {
  test(`a plan with ${name} is refused, naming ${field}`, async (t) => {
    const r = await post('/api/plans', spec);
    t.is(r.status, 400);
    t.is(r.body.error?.field, field);
    t.regex(r.body.error!.message, message);
    t.true(r.body.error!.message.startsWith(`${field}: `));
  });
}

test.serial('an equivalent plan gets 409 with the existing id; mutable fields do not make it different', async (t) => {
  const first = await api.client.applyPlan({ ...base, image: 'repo/eq:1' });
  const again = await post('/api/plans', { ...base, image: 'repo/eq:1', active: false, resources: { cpu: '2' }, annotations: ['a=b'] });
  t.is(again.status, 409);
  t.is(again.body.error?.details?.['existingPlanId'], first.plan!.id);
  t.regex(again.body.error!.message, new RegExp(first.plan!.id));
  // Tag order and mount order do not matter either.
  const reordered = await post('/api/plans', { ...base, image: 'repo/eq:1', inputs: [{ path: '/in/data', tags: ['type:dataset'] }] });
  t.is(reordered.status, 409);
  const different = await api.client.applyPlan({ ...base, image: 'repo/eq:1', args: ['--fast'] });
  t.not(different.plan!.id, first.plan!.id);
});

test.serial('a plan feeding itself, directly or through other plans, gets 409 naming the cycle', async (t) => {
  const self = await post('/api/plans', { image: 'repo/loop:1', inputs: [{ path: '/in', tags: ['loop:self'] }], outputs: [{ path: '/out', tags: ['loop:self', 'more:tags'] }] });
  t.is(self.status, 409);
  t.regex(self.body.error!.message, /cycle.*this plan \/out -> this plan \/in/);

  const a = await api.client.applyPlan({ image: 'repo/a:1', inputs: [{ path: '/in', tags: ['stage:c'] }], outputs: [{ path: '/out', tags: ['stage:a'] }] });
  const b = await api.client.applyPlan({ image: 'repo/b:1', inputs: [{ path: '/in', tags: ['stage:a'] }], outputs: [{ path: '/out', tags: ['stage:b'] }] });
  const c = await post('/api/plans', { image: 'repo/c:1', inputs: [{ path: '/in', tags: ['stage:b'] }], outputs: [{ path: '/out', tags: ['stage:c'] }] });
  t.is(c.status, 409);
  t.regex(c.body.error!.message, new RegExp(`this plan /out -> plan ${a.plan!.id} /in.*plan ${a.plan!.id} /out -> plan ${b.plan!.id} /in.*plan ${b.plan!.id} /out -> this plan /in`));
  // The log counts too.
  const viaLog = await post('/api/plans', { image: 'repo/d:1', inputs: [{ path: '/in', tags: ['kind:log-of-d'] }], log: { tags: ['kind:log-of-d'] } });
  t.is(viaLog.status, 409);
  // Selecting by knit#id names existing Data, which new outputs never are: no cycle.
  const byId = await post('/api/plans', { image: 'repo/e:1', inputs: [{ path: '/in', tags: ['knit#id:00000000-0000-4000-8000-000000000000', 'x:y'] }], outputs: [{ path: '/out', tags: ['x:y'] }] });
  t.is(byId.status, 201);
});

test.serial('dry run reports the runs and their Data without applying; over the cap needs yes', async (t) => {
  const dir = async (name: string) => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const d = await mkdtemp(join(tmpdir(), 'knit-plan-'));
    await writeFile(join(d, 'f'), name);
    const data = await api.client.pushDirectory(d, ['preview:data', `name:${name}`]);
    await rm(d, { recursive: true });
    return data;
  };
  const d1 = await dir('a');
  const d2 = await dir('b');
  const spec = { image: 'repo/preview:1', inputs: [{ path: '/in/x', tags: ['preview:data'] }, { path: '/in/y', tags: ['preview:data'] }] };
  const dry = await api.client.applyPlan(spec, { dryRun: true });
  t.true(dry.dryRun);
  t.is(dry.plan, null);
  t.is(dry.preview.runs, 4);
  t.deepEqual(dry.preview.inputs.map((i) => i.dataIds.sort()), [[d1.id, d2.id].sort(), [d1.id, d2.id].sort()]);
  t.deepEqual(await api.client.findPlans({ image: 'repo/preview:1' }), [], 'nothing applied');

  // A second API over the same database, with a cap of 3, shows the refusal.
  const { buildApi } = await import('../../api/server.js');
  const { noOrchestrator } = await import('../../api/orchestrator.js');
  const { createLogger } = await import('../../core/log/logger.js');
  const { LocalBlobStore } = await import('../../core/storage/local-store.js');
  const app = await buildApi({ pool: api.db.pool, store: new LocalBlobStore(api.home), logger: createLogger('t', 'silent'), config: { token: undefined, maxDataBytes: 1 << 30, maxRunsPerApply: 3 }, orchestrator: noOrchestrator, onChange: () => {} });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const { KnitClient } = await import('../../client/knit-client.js');
  const small = new KnitClient({ server: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` });
  const err = await t.throwsAsync(small.applyPlan(spec), { instanceOf: KnitError });
  t.is(err?.code, 'conflict');
  t.regex(err!.message, /would start 4 runs.*cap of 3.*--yes/);
  const forced = await small.applyPlan(spec, { yes: true });
  t.truthy(forced.plan);
});

test.serial('find filters by activity, image, input and output tags; active, resources and annotations change', async (t) => {
  const p = await api.client.applyPlan({ image: 'repo/find:2', inputs: [{ path: '/in', tags: ['find:in', 'other:x'] }], outputs: [{ path: '/out', tags: ['find:out'] }], log: { tags: ['find:log'] }, annotations: ['owner=ann'] });
  const id = p.plan!.id;
  const ids = (ps: Array<{ id: string }>) => ps.map((x) => x.id);
  t.true(ids(await api.client.findPlans({ image: 'repo/find' })).includes(id));
  t.deepEqual(ids(await api.client.findPlans({ image: 'repo/find:1' })), []);
  t.true(ids(await api.client.findPlans({ inTags: ['find:in'] })).includes(id));
  t.false(ids(await api.client.findPlans({ inTags: ['find:in', 'nope:x'] })).includes(id));
  t.true(ids(await api.client.findPlans({ outTags: ['find:out'] })).includes(id));
  t.true(ids(await api.client.findPlans({ outTags: ['find:log'] })).includes(id));
  t.true(ids(await api.client.findPlans({ active: true })).includes(id));
  const inactive = await api.client.setPlanActive(id, false);
  t.false(inactive.active);
  t.false(ids(await api.client.findPlans({ active: true })).includes(id));
  t.true(ids(await api.client.findPlans({ active: false })).includes(id));
  const res = await api.client.changePlanResources(id, { set: { cpu: '500m', memory: '1Gi', 'nvidia.com/gpu': '1' } });
  t.deepEqual(res.resources, { cpu: '500m', memory: '1Gi', 'nvidia.com/gpu': '1' });
  t.deepEqual((await api.client.changePlanResources(id, { unset: ['nvidia.com/gpu'] })).resources, { cpu: '500m', memory: '1Gi' });
  await t.throwsAsync(api.client.changePlanResources(id, { set: { cpu: 'many' } }), { message: /set\.cpu: must be a quantity/ });
  const ann = await api.client.annotatePlan(id, { add: ['stage=prod', 'owner=bob'], removeKey: ['owner'] });
  t.deepEqual(ann.annotations.sort(), ['owner=bob', 'stage=prod']);
  t.deepEqual((await api.client.annotatePlan(id, { remove: ['stage=prod'] })).annotations, ['owner=bob']);
  await t.throwsAsync(api.client.getPlan('00000000-0000-4000-8000-000000000000'), { message: /not found/ });
});
