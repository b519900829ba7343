import test from 'ava';
import { request } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { tempDir } from '../helpers/tmp.js';

let api: TestApi;
test.before(async () => {
  api = await startTestApi();
});
test.after.always(() => api?.close());

interface Answer {
  status: number;
  error?: { code: string; message: string; field?: string };
}

function call(method: string, path: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {};
    const req = request(new URL(path, api.url), { method, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(JSON.parse(text) as object) }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const tags = (n: number, prefix = 't') => Array.from({ length: n }, (_, i) => `${prefix}${i}:v`);
const inputs = (n: number) => Array.from({ length: n }, (_, i) => ({ path: `/in/${i}`, tags: ['type:dataset'] }));
const base = { image: 'repo/limits:1', inputs: inputs(1) };

const refusedPlans: Array<[string, unknown, string, RegExp]> = [
  ['3,000 inputs', { ...base, inputs: inputs(3000) }, 'inputs', /^inputs: at most 16 inputs per plan, got 3000$/],
  ['17 outputs', { ...base, outputs: Array.from({ length: 17 }, (_, i) => ({ path: `/out/${i}`, tags: [] })) }, 'outputs', /at most 16 outputs per plan, got 17/],
  ['33 tags on an input', { ...base, inputs: [{ path: '/in', tags: tags(33) }] }, 'inputs[0].tags', /at most 32 tags per input, got 33/],
  ['2,000 tags on an input', { ...base, inputs: [{ path: '/in', tags: tags(2000) }] }, 'inputs[0].tags', /at most 32 tags per input, got 2000/],
  ['65 tags on an output', { ...base, outputs: [{ path: '/out', tags: tags(65) }] }, 'outputs[0].tags', /at most 64 tags per output, got 65/],
  ['65 log tags', { ...base, log: { tags: tags(65) } }, 'log.tags', /at most 64 tags per output, got 65/],
  ['65 annotations', { ...base, annotations: Array.from({ length: 65 }, (_, i) => `k${i}=v`) }, 'annotations', /at most 64 annotations per plan, got 65/],
  ['257 args', { ...base, args: Array.from({ length: 257 }, () => '-v') }, 'args', /at most 256 entries, got 257/],
  ['257 entrypoint entries', { ...base, entrypoint: Array.from({ length: 257 }, () => 'x') }, 'entrypoint', /at most 256 entries, got 257/],
  ['an argument of 5,000 characters', { ...base, args: ['x'.repeat(5000)] }, 'args[0]', /at most 4096 characters/],
];

for (const [name, spec, field, message] of refusedPlans) {
  test(`a plan with ${name} gets 400 naming ${field}, dry run or not`, async (t) => {
    for (const path of ['/api/plans', '/api/plans?dryRun=true']) {
      const r = await call('POST', path, spec);
      t.is(r.status, 400, path);
      t.is(r.error?.field, field, path);
      t.regex(r.error!.message, message, path);
    }
  });
}

test('a plan at every limit is accepted', async (t) => {
  const spec = {
    image: 'repo/at-limits:1',
    args: Array.from({ length: 256 }, () => 'x'.repeat(4096)).slice(0, 100),
    inputs: Array.from({ length: 16 }, (_, i) => ({ path: `/in/${i}`, tags: tags(32, `in${i}-`) })),
    outputs: Array.from({ length: 16 }, (_, i) => ({ path: `/out/${i}`, tags: tags(64, `out${i}-`) })),
    annotations: Array.from({ length: 64 }, (_, i) => `k${i}=v`),
  };
  const r = await call('POST', '/api/plans?dryRun=true', spec);
  t.is(r.status, 200, JSON.stringify(r.error));
});

test('queries with too many tags or ids get 400 naming the parameter', async (t) => {
  const q = (name: string, values: string[]) => values.map((v) => `${name}=${encodeURIComponent(v)}`).join('&');
  const id = '00000000-0000-4000-8000-000000000000';
  for (const [path, field, message] of [
    [`/api/data?${q('tag', tags(200))}`, 'tag', /^tag: at most 32 tags per query, got 200$/],
    [`/api/data?${q('tag', tags(33))}`, 'tag', /at most 32 tags per query, got 33/],
    [`/api/plans?${q('in', tags(33))}`, 'in', /at most 32 tags per query, got 33/],
    [`/api/plans?${q('out', tags(33))}`, 'out', /at most 32 tags per query, got 33/],
    [`/api/runs?${q('in', Array(33).fill(id))}`, 'in', /at most 32 Data per query, got 33/],
    [`/api/runs?${q('plan', Array(33).fill(id))}`, 'plan', /at most 32 plans per query, got 33/],
  ] as const) {
    const r = await call('GET', path);
    t.is(r.status, 400, path.slice(0, 40));
    t.is(r.error?.field, field);
    t.regex(r.error!.message, message);
  }
  const fine = await call('GET', `/api/data?${q('tag', tags(32))}`);
  t.is(fine.status, 200);
});

async function push(tagList: string[]) {
  const dir = await tempDir();
  try {
    await mkdir(join(dir.path, 'd'), { recursive: true });
    await writeFile(join(dir.path, 'd', 'a.txt'), 'a');
    return await api.client.pushDirectory(dir.path, tagList);
  } finally {
    await dir.cleanup();
  }
}

test.serial('a Data carries at most 64 tags: on push, and in total after a retag, which is then rolled back whole', async (t) => {
  const tooMany = await t.throwsAsync(push(tags(65)));
  t.regex(tooMany!.message, /tag: at most 64 tags per Data, got 65/);
  const d = await push(tags(60));
  const over = await call('PUT', `/api/data/${d.id}/tags`, { remove: ['t0:v'], add: tags(6, 'more') });
  t.is(over.status, 400);
  t.is(over.error?.field, 'add');
  t.regex(over.error!.message, /at most 64 tags per Data, got 65/);
  const after = await api.client.getData(d.id);
  t.deepEqual(after.tags.filter((x) => !x.startsWith('knit#')).sort(), tags(60).sort(), 'nothing removed, nothing added');
  const exactly = await call('PUT', `/api/data/${d.id}/tags`, { add: tags(4, 'more') });
  t.is(exactly.status, 200);
  const bigChange = await call('PUT', `/api/data/${d.id}/tags`, { removeKey: Array.from({ length: 65 }, (_, i) => `k${i}`) });
  t.is(bigChange.error?.field, 'removeKey');
});

test.serial('annotations stay at most 64 in total after a change', async (t) => {
  const plan = await api.client.applyPlan({ ...base, image: 'repo/annotated:1', annotations: Array.from({ length: 60 }, (_, i) => `k${i}=v`) });
  const r = await call('PUT', `/api/plans/${plan.plan!.id}/annotations`, { add: Array.from({ length: 5 }, (_, i) => `new${i}=v`) });
  t.is(r.status, 400);
  t.is(r.error?.field, 'add');
  t.regex(r.error!.message, /at most 64 annotations per plan, got 65/);
});

test.serial('find filters keep their meaning with the counted SQL: every tag on one input, every Data on one run', async (t) => {
  const one = await api.client.applyPlan({ image: 'repo/filter-one:1', inputs: [{ path: '/a', tags: ['f:a', 'f:b'] }] });
  const split = await api.client.applyPlan({ image: 'repo/filter-split:1', inputs: [{ path: '/a', tags: ['f:a'] }, { path: '/b', tags: ['f:b'] }] });
  const ids = async (path: string) => ((await (await fetch(new URL(path, api.url))).json()) as Array<{ id: string }>).map((x) => x.id).sort();
  t.deepEqual(await ids('/api/plans?in=f:a&in=f:b'), [one.plan!.id], 'both tags on one input');
  t.deepEqual(await ids('/api/plans?in=f:a&in=f:b&in=f:a'), [one.plan!.id], 'a repeated tag counts once');
  t.deepEqual(await ids('/api/plans?in=f:a'), [one.plan!.id, split.plan!.id].sort());
  t.deepEqual(await ids('/api/plans?in=f:b&in=f:c'), []);

  const a = await push(['f:a']);
  const b = await push(['f:b']);
  const { matchOutbox } = await import('../../core/run/matching.js');
  for (;;) if (!(await matchOutbox(api.db.pool)).more) break;
  const [run] = await api.client.findRuns({ plans: [split.plan!.id] });
  t.truthy(run);
  t.deepEqual(await ids(`/api/runs?in=${a.id}&in=${b.id}`), [run!.id], 'a run holding both');
  t.deepEqual(await ids(`/api/runs?in=${a.id}&in=${a.id}`), [run!.id], 'a repeated id counts once');
  const other = await push(['f:zzz']);
  t.deepEqual(await ids(`/api/runs?in=${a.id}&in=${other.id}`), []);
  t.deepEqual(await ids(`/api/runs?out=${a.id}`), [], 'an upload is no run output');
});

test.serial('a plan whose matching failed says so in GET /api/plans/{id}, and not once it succeeds', async (t) => {
  await push(['marked:yes']);
  await push(['marked:yes']);
  const p = await api.client.applyPlan({ image: 'repo/marked:1', inputs: [{ path: '/a', tags: ['marked:yes'] }, { path: '/b', tags: ['marked:yes'] }] });
  t.is(p.plan!.matchError, null);
  const { matchOutbox } = await import('../../core/run/matching.js');
  const r = await matchOutbox(api.db.pool, { maxRunsPerPlan: 3 });
  t.deepEqual(r.failed.map((f) => f.planId), [p.plan!.id]);
  const marked = await api.client.getPlan(p.plan!.id);
  t.regex(marked.matchError!.message, /at least 4 runs at once/);
  t.is(marked.matchError!.failures, 1);
  await api.db.pool.query("UPDATE plan SET match_retry_at = now() - interval '1 second' WHERE id = $1", [p.plan!.id]);
  t.deepEqual((await matchOutbox(api.db.pool)).failed, []);
  t.is((await api.client.getPlan(p.plan!.id)).matchError, null);
});
