import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PlanDetail } from '../../core/plan/model.js';
import { PlanSpec } from '../../core/plan/spec.js';
import { parse as parseYaml } from 'yaml';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { knitBin, parseJson, runKnit } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

// knit's plan JSON names the plans feeding a plan and those it feeds, with the mount paths, from
// the same service function Knitfab's API shows them with (api/services/plans.ts).

let api: TestApi;
let work: { path: string; cleanup: () => Promise<void> };
let prep: PlanDetail;
let train: PlanDetail;
let evaluate: PlanDetail;

test.before(async () => {
  api = await startTestApi();
  work = await tempDir('knit-links-');
  const apply = async (spec: unknown) => (await api.client.applyPlan(spec as Parameters<TestApi['client']['applyPlan']>[0])).plan!;
  prep = await apply({ image: 'repo/prep:1', inputs: [{ path: '/in/raw', tags: ['links:raw'] }], outputs: [{ path: '/out/clean', tags: ['links:clean'] }], log: { tags: ['links:prep-log'] } });
  train = await apply({ image: 'repo/train:1', inputs: [{ path: '/in/data', tags: ['links:clean'] }, { path: '/in/notes', tags: ['links:prep-log'] }], outputs: [{ path: '/out/model', tags: ['links:model'] }] });
  evaluate = await apply({ image: 'repo/eval:1', inputs: [{ path: '/in/model', tags: ['links:model'] }, { path: '/in/data', tags: ['links:clean'] }], outputs: [] });
});
test.after.always(async () => {
  await api?.close();
  await work?.cleanup();
});

const env = () => ({ KNIT_SERVER: api.url, KNIT_HOME: join(work.path, 'home') });
const knit = (args: string[]) => runKnit(args, { env: env() });

test('plan show lists upstreams and downstreams with their mount paths', async (t) => {
  const shown = parseJson<PlanDetail>(await knit(['plan', 'show', train.id]));
  t.deepEqual(shown.upstreams, [
    { planId: prep.id, image: 'repo/prep:1', output: '/out/clean', input: '/in/data' },
    { planId: prep.id, image: 'repo/prep:1', output: 'log', input: '/in/notes' },
  ]);
  t.deepEqual(shown.downstreams, [{ planId: evaluate.id, image: 'repo/eval:1', output: '/out/model', input: '/in/model' }]);

  const first = parseJson<PlanDetail>(await knit(['plan', 'show', prep.id]));
  t.deepEqual(first.upstreams, []);
  t.deepEqual(
    first.downstreams.map((l) => [l.planId, l.output, l.input]).sort(),
    [[train.id, '/out/clean', '/in/data'], [train.id, 'log', '/in/notes'], [evaluate.id, '/out/clean', '/in/data']].sort(),
  );
  // plan find, and the answers to changes, carry them too.
  const found = parseJson<PlanDetail[]>(await knit(['plan', 'find', '--image', 'repo/eval:1']));
  t.deepEqual(found.map((p) => p.upstreams.length), [2]);
  const annotated = parseJson<PlanDetail>(await knit(['plan', 'annotate', '--add', 'a=b', evaluate.id]));
  t.is(annotated.upstreams.length, 2);
  t.is(annotated.downstreams.length, 0);
});

test('on a terminal plan show prints them as comments under the plan file, and plan find as short ids', async (t) => {
  const tty = (args: string) => promisify(execFile)('script', ['-qec', `${process.execPath} ${knitBin} ${args}`, '/dev/null'], { env: { PATH: process.env['PATH'], ...env() } });
  const { stdout } = await tty(`plan show ${train.id}`);
  const text = stdout.replace(/\r/g, '');
  t.regex(text, /^# upstreams \(plans whose outputs this plan takes\):\n#   INPUT\s+PLAN\s+IMAGE\s+OUTPUT\n#   \/in\/data\s+\S+\s+repo\/prep:1\s+\/out\/clean\n#   \/in\/notes\s+\S+\s+repo\/prep:1\s+log$/m);
  t.regex(text, new RegExp(`^#   /out/model\\s+${evaluate.id}\\s+repo/eval:1\\s+/in/model$`, 'm'));
  // Still a plan file: the comments change nothing.
  const reparsed = PlanSpec.safeParse(parseYaml(text));
  t.true(reparsed.success, `${JSON.stringify(reparsed.error?.issues)}\n${text}`);

  const found = (await tty('plan find --image repo/train:1')).stdout;
  t.regex(found, /UPSTREAMS\s+DOWNSTREAMS/);
  t.regex(found, new RegExp(`${prep.id.slice(0, 8)}\\s+${evaluate.id.slice(0, 8)}`));
  // The short ids work wherever an id is taken.
  t.is(parseJson<PlanDetail>(await knit(['plan', 'show', prep.id.slice(0, 8)])).id, prep.id);
});
