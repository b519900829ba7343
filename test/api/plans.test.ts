import test from 'ava';
import { request } from 'node:http';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { KnitError } from '../../core/errors/knit-error.js';
import { hostResourceBounds } from '../../core/plan/resource-bounds.js';

let api: TestApi;
// Fixed bounds, so that what is "more than a run may have" does not depend on the test host.
const bounds = { maxCpu: 4, maxMemory: 8 * 2 ** 30 };
test.before(async () => {
  api = await startTestApi({ resourceBounds: bounds });
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
  // Values Docker cannot apply, or more than this deployment gives a run (KNIT_MAX_CPU 4, KNIT_MAX_MEMORY 8Gi here).
  ['cpu finer than Docker applies', { ...base, resources: { cpu: '0.001' } }, 'resources.cpu', /at least 0\.01/],
  ['cpu of 1m', { ...base, resources: { cpu: '1m' } }, 'resources.cpu', /at least 0\.01/],
  ['cpu beyond int64 nanocores', { ...base, resources: { cpu: '1e10' } }, 'resources.cpu', /more than the 4 cores.*KNIT_MAX_CPU/],
  ['cpu of 1e308', { ...base, resources: { cpu: '1e308' } }, 'resources.cpu', /KNIT_MAX_CPU/],
  ['cpu as a huge number', { ...base, resources: { cpu: 1e308 } }, 'resources.cpu', /KNIT_MAX_CPU/],
  ['memory beyond int64 bytes', { ...base, resources: { memory: '1e30' } }, 'resources.memory', /KNIT_MAX_MEMORY/],
  ['memory above the bound', { ...base, resources: { memory: '1Ti' } }, 'resources.memory', /more than the 8589934592 bytes.*KNIT_MAX_MEMORY/],
  ['memory under Docker minimum', { ...base, resources: { memory: '1000' } }, 'resources.memory', /at least 6Mi/],
  ['a fraction of a GPU', { ...base, resources: { 'nvidia.com/gpu': '0.5' } }, 'resources.nvidia.com/gpu', /whole number/],
  ['network not a boolean', { ...base, network: 'yes' }, 'network', /boolean/],
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
  const app = await buildApi({ pool: api.db.pool, store: new LocalBlobStore(api.home), logger: createLogger('t', 'silent'), config: { token: undefined, maxDataBytes: 1 << 30, maxRunsPerApply: 3, resourceBounds: hostResourceBounds(), allowNetwork: true }, orchestrator: noOrchestrator, onChange: () => {} });
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

test('changing resources refuses what Docker cannot apply or the deployment does not give, naming the field', async (t) => {
  const p = await api.client.applyPlan({ ...base, image: 'repo/resources:1', resources: { cpu: '1', memory: '1Gi' } });
  const id = p.plan!.id;
  const refused: Array<[Record<string, string>, string, RegExp]> = [
    [{ cpu: '0.001' }, 'set.cpu', /at least 0\.01/],
    [{ cpu: '1e10' }, 'set.cpu', /KNIT_MAX_CPU/],
    [{ cpu: '1e308' }, 'set.cpu', /KNIT_MAX_CPU/],
    [{ memory: '1e30' }, 'set.memory', /KNIT_MAX_MEMORY/],
    [{ memory: '1Ti' }, 'set.memory', /KNIT_MAX_MEMORY/],
    [{ memory: '5Mi' }, 'set.memory', /at least 6Mi/],
  ];
  for (const [set, field, message] of refused) {
    const err = await t.throwsAsync(api.client.changePlanResources(id, { set }), { instanceOf: KnitError });
    t.is(err?.httpStatus, 400, JSON.stringify(set));
    t.is(err?.field, field);
    t.regex(err!.message, message);
  }
  t.deepEqual((await api.client.getPlan(id)).resources, { cpu: '1', memory: '1Gi' }, 'nothing changed');
  const edge = await api.client.changePlanResources(id, { set: { cpu: '10m', memory: '6Mi' } });
  t.deepEqual(edge.resources, { cpu: '10m', memory: '6Mi' }, 'the smallest values Docker applies are accepted');
  t.deepEqual((await api.client.changePlanResources(id, { set: { cpu: '4', memory: '8Gi' } })).resources, { cpu: '4', memory: '8Gi' }, 'up to the bounds');
});

test('network is off unless a plan asks for it; asking makes a different plan; a deployment can refuse it', async (t) => {
  const spec = { ...base, image: 'repo/network:1' };
  const off = await api.client.applyPlan(spec);
  t.false(off.plan!.network);
  const on = await post('/api/plans', { ...spec, network: true });
  t.is(on.status, 201, 'a plan that differs only in network access is not equivalent: its runs may produce other outputs');
  t.true((on.body['plan'] as { network: boolean }).network);
  t.is((await post('/api/plans', { ...spec, network: true })).status, 409);

  const { buildApi } = await import('../../api/server.js');
  const { noOrchestrator } = await import('../../api/orchestrator.js');
  const { createLogger } = await import('../../core/log/logger.js');
  const { LocalBlobStore } = await import('../../core/storage/local-store.js');
  const app = await buildApi({ pool: api.db.pool, store: new LocalBlobStore(api.home), logger: createLogger('t', 'silent'), config: { token: undefined, maxDataBytes: 1 << 30, maxRunsPerApply: 100, resourceBounds: bounds, allowNetwork: false }, orchestrator: noOrchestrator, onChange: () => {} });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const { KnitClient } = await import('../../client/knit-client.js');
  const closed = new KnitClient({ server: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` });
  const err = await t.throwsAsync(closed.applyPlan({ ...spec, image: 'repo/network:2', network: true }), { instanceOf: KnitError });
  t.is(err?.httpStatus, 400);
  t.is(err?.field, 'network');
  t.regex(err!.message, /KNIT_ALLOW_NETWORK=false/);
  t.false((await closed.applyPlan({ ...spec, image: 'repo/network:2' })).plan!.network);
});

test('a plan without network keeps the equivalence hash it had before knit had the field', async (t) => {
  const { PlanSpec, specHash } = await import('../../core/plan/spec.js');
  const spec = { image: 'repo/hash:1', entrypoint: ['python'], args: ['train.py'], inputs: [{ path: '/in/b', tags: ['b:2', 'a:1'] }, { path: '/in/a', tags: ['x:y'] }], outputs: [{ path: '/out', tags: ['m:1'] }], log: { tags: ['l:1'] }, on_node: { must: ['z=1', 'a=2'] } };
  // Computed by the code before the network field: stored hashes of existing plans stay valid.
  const before = 'e08e991fe4751601bca573e1e689cef37c1b4877f2055faba37417b7effdcd06';
  t.is(specHash(PlanSpec.parse(spec)), before);
  t.is(specHash(PlanSpec.parse({ ...spec, network: false })), before);
  t.not(specHash(PlanSpec.parse({ ...spec, network: true })), before);
});
