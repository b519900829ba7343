import test from 'ava';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DataDetail } from '../../core/data/model.js';
import type { PlanDetail } from '../../core/plan/model.js';
import type { RunDetail } from '../../core/run/model.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { parseJson, runKnit } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

// Ids may be given as a unique prefix of at least 4 hex characters, resolved by the server
// (api/services/ids.ts), so knit's routes and its CLI take them alike.

let api: TestApi;
let work: { path: string; cleanup: () => Promise<void> };
let data: DataDetail;
let plan: PlanDetail;
// Two runs made to share their first 8 hex characters (and a third that does not).
const TWIN_A = 'abcdef01-0000-4000-8000-000000000001';
const TWIN_B = 'abcdef01-0000-4000-8000-000000000002';
const LONE = '12345678-0000-4000-8000-000000000003';

test.before(async () => {
  api = await startTestApi();
  work = await tempDir('knit-prefix-');
  const dir = join(work.path, 'src');
  await mkdir(dir);
  await writeFile(join(dir, 'f.txt'), 'prefix\n');
  data = await api.client.pushDirectory(dir, ['prefix:data']);
  plan = (await api.client.applyPlan({ image: 'repo/prefix:1', inputs: [{ path: '/in', tags: ['prefix:data'] }], outputs: [{ path: '/out', tags: ['prefix:out'] }] })).plan!;
  // Runs come from the matcher, which this API has not: written as it would write them.
  for (const [id, key] of [[TWIN_A, 'a'], [TWIN_B, 'b'], [LONE, 'c']] as const) {
    await api.db.pool.query(`INSERT INTO run (id, plan_id, input_key, status) VALUES ($1, $2, $3, 'waiting')`, [id, plan.id, key]);
  }
});
test.after.always(async () => {
  await api?.close();
  await work?.cleanup();
});

const knit = (args: string[]) => runKnit(args, { env: { KNIT_SERVER: api.url, KNIT_HOME: join(work.path, 'home') }, cwd: work.path });
const get = async (path: string) => {
  const res = await fetch(new URL(path, api.url));
  return { status: res.status, body: (await res.json()) as { id?: string; error?: { message: string; field?: string; details?: { matches?: string[] } } } };
};

test('the routes resolve a unique prefix; an ambiguous one is a 400 listing the matches; none is a 404', async (t) => {
  t.is((await get(`/api/runs/${LONE.slice(0, 4)}`)).body.id, LONE);
  t.is((await get(`/api/data/${data.id.slice(0, 6)}`)).body.id, data.id);
  t.is((await get(`/api/plans/${plan.id.slice(0, 13).toUpperCase()}`)).body.id, plan.id, 'upper case and the dash are accepted');
  const twins = await get('/api/runs/abcdef01');
  t.is(twins.status, 400);
  t.is(twins.body.error?.field, 'id');
  t.deepEqual(twins.body.error?.details?.matches, [TWIN_A, TWIN_B]);
  t.regex(twins.body.error!.message, /"abcdef01" is ambiguous: .*abcdef01-0000-4000-8000-000000000001, abcdef01-0000-4000-8000-000000000002; give more characters/);
  t.is((await get(`/api/runs/${TWIN_B.slice(0, 35)}`)).status, 400, 'a long prefix, with dashes, both share');
  t.is((await get('/api/runs/ffff0000')).status, 404);
  const short = await get('/api/runs/abc');
  t.is(short.status, 400);
  t.regex(short.body.error!.message, /"abc" is not a run id \(a UUID, or a unique prefix of at least 4 hex characters\)/);
  t.is((await get('/api/runs/zzzzzz')).status, 400);
  t.is((await get(`/api/lineage/data/${data.id.slice(0, 8)}`)).status, 200);
});

test('the CLI takes prefixes for runs, Data and plans', async (t) => {
  const shown = await knit(['run', 'show', LONE.slice(0, 5)]);
  t.is(shown.code, 0, shown.stderr);
  t.is(parseJson<RunDetail>(shown).id, LONE);
  const ambiguous = await knit(['run', 'show', 'abcdef']);
  t.is(ambiguous.code, 1);
  t.regex(ambiguous.stderr, new RegExp(`ambiguous: .*${TWIN_A}, ${TWIN_B}`));
  const missing = await knit(['run', 'wait', 'ffff0000']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /run ffff0000 not found/);

  const prefix = data.id.slice(0, 8);
  const tagged = await knit(['data', 'tag', '--add', 'via:prefix', prefix]);
  t.is(tagged.code, 0, tagged.stderr);
  t.true(parseJson<DataDetail>(tagged).tags.includes('via:prefix'));
  const lineage = await knit(['data', 'lineage', '--format', 'json', prefix]);
  t.is(lineage.code, 0, lineage.stderr);
  // A pulled file is named by the full id, not the prefix typed.
  const pulled = await knit(['data', 'pull', '-x', prefix, 'out']);
  t.is(pulled.code, 0, pulled.stderr);
  t.deepEqual(await readdir(join(work.path, 'out')), [data.id]);

  const p = plan.id.slice(0, 6);
  t.is(parseJson<PlanDetail>(await knit(['plan', 'show', p])).id, plan.id);
  t.is(parseJson<PlanDetail>(await knit(['plan', 'annotate', '--add', 'who=prefix', p])).id, plan.id);
  t.is(parseJson<PlanDetail>(await knit(['plan', 'resource', '--set', 'cpu=2', p])).id, plan.id);
  const off = await knit(['plan', 'active', 'no', p]);
  t.is(off.code, 0, off.stderr);
  t.false(parseJson<PlanDetail>(off).active);
});
