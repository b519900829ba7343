import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { PlanDetail, PlanPreview } from '../../core/plan/model.js';
import { PlanSpec } from '../../core/plan/spec.js';
import type { RunDetail } from '../../core/run/model.js';
import { parseJson, runKnit } from '../helpers/cli.js';
import { TestStack, TEST_IMAGE, terminal } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

let s: TestStack;
let work: { path: string; cleanup: () => Promise<void> };
test.before(async () => {
  s = await TestStack.start();
  work = await tempDir();
});
test.after.always(async () => {
  await s?.close();
  await work?.cleanup();
});

const knit = (args: string[]) => runKnit(args, { env: { KNIT_SERVER: s.url, KNIT_HOME: join(work.path, 'home') } });

test.serial('plan template prints a commented plan that validates once filled in', async (t) => {
  const r = await knit(['plan', 'template', 'my/trainer:2.1']);
  t.is(r.code, 0);
  t.regex(r.stdout, /^# /m);
  const spec = PlanSpec.safeParse(parse(r.stdout));
  t.true(spec.success, JSON.stringify(spec.error?.issues));
  t.is(spec.data?.image, 'my/trainer:2.1');
});

test.serial('plan apply (dry run, then for real), show, find, active, resource and annotate', async (t) => {
  const file = join(work.path, 'train.yaml');
  await writeFile(
    file,
    [
      `image: ${TEST_IMAGE}`,
      'entrypoint: ["sh", "-c"]',
      'args: ["cat /in/data/x > /out/model/m"]',
      'inputs:',
      '  - path: /in/data',
      '    tags: ["cli:data"]',
      'outputs:',
      '  - path: /out/model',
      '    tags: ["cli:model"]',
      'log:',
      '  tags: ["cli:log"]',
      '',
    ].join('\n'),
  );
  const pushed = parseJson<{ id: string }>(await knit(['data', 'push', '-t', 'cli:data', await dirWith('x', 'hello')]));
  const dry = await knit(['plan', 'apply', '--dry-run', file]);
  t.is(dry.code, 0, dry.stderr);
  const preview = parseJson<PlanPreview>(dry);
  t.is(preview.runs, 1);
  t.deepEqual(preview.inputs[0]!.dataIds, [pushed.id]);
  t.deepEqual(parseJson<PlanDetail[]>(await knit(['plan', 'find', '-i', 'cli:data'])), [], 'a dry run applies nothing');

  const applied = await knit(['plan', 'apply', file]);
  t.is(applied.code, 0, applied.stderr);
  t.regex(applied.stderr, /applied plan .*; it starts 1 run now/);
  const plan = parseJson<PlanDetail>(applied);
  const again = await knit(['plan', 'apply', file]);
  t.is(again.code, 1);
  t.regex(again.stderr, new RegExp(`equivalent plan already exists: ${plan.id}`));

  t.is(parseJson<PlanDetail>(await knit(['plan', 'show', plan.id])).id, plan.id);
  t.deepEqual(parseJson<PlanDetail[]>(await knit(['plan', 'find', '-i', 'cli:data', '-o', 'cli:model', '--image', TEST_IMAGE])).map((p) => p.id), [plan.id]);
  t.false(parseJson<PlanDetail>(await knit(['plan', 'active', 'no', plan.id])).active);
  t.deepEqual(parseJson<PlanDetail[]>(await knit(['plan', 'find', '--active', 'yes', '-i', 'cli:data'])), []);
  t.true(parseJson<PlanDetail>(await knit(['plan', 'active', 'yes', plan.id])).active);
  t.deepEqual(parseJson<PlanDetail>(await knit(['plan', 'resource', '--set', 'cpu=1', '--set', 'memory=256Mi', plan.id])).resources, { cpu: '1', memory: '256Mi' });
  t.deepEqual(parseJson<PlanDetail>(await knit(['plan', 'resource', '--unset', 'cpu', plan.id])).resources, { memory: '256Mi' });
  t.deepEqual(parseJson<PlanDetail>(await knit(['plan', 'annotate', '--add', 'owner=ml', plan.id])).annotations, ['owner=ml']);
  t.is(parseJson<PlanDetail>(await knit(['plan', 'serviceaccount', '--set', 'trainer', plan.id])).service_account, 'trainer');
  t.is(parseJson<PlanDetail>(await knit(['plan', 'serviceaccount', '--unset', plan.id])).service_account, null);
  const both = await knit(['plan', 'serviceaccount', '--set', 'x', '--unset', plan.id]);
  t.is(both.code, 2);
  t.regex(both.stderr, /exactly one of --set NAME or --unset/);

  const consumer = await s.plan({ script: 'true', inputs: [{ path: '/in', tags: ['cli:model'] }] });
  const graph = parseJson<{ edges: Array<{ from: string; to: string; output: string; input: string }> }>(await knit(['plan', 'graph', '--format', 'json']));
  t.true(graph.edges.some((e) => e.from === plan.id && e.to === consumer.id && e.output === '/out/model' && e.input === '/in'));
  const dot = await knit(['plan', 'graph']);
  t.regex(dot.stdout, new RegExp(`"${plan.id}" -> "${consumer.id}"`));

  const [run] = await s.waitRuns('the run', (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [plan.id] });
  t.is(run!.status, 'done');
  const found = parseJson<RunDetail[]>(await knit(['run', 'find', '-p', plan.id, '-s', 'done', '-i', pushed.id]));
  t.deepEqual(found.map((r) => r.id), [run!.id]);
  t.deepEqual(parseJson<RunDetail[]>(await knit(['run', 'find', '-o', run!.outputs[0]!.dataId!])).map((r) => r.id), [run!.id]);
  t.is(parseJson<RunDetail>(await knit(['run', 'show', run!.id])).status, 'done');

  // Knitfab's flag names, as aliases.
  const log = await knit(['run', 'log', run!.id]);
  const shownLog = await knit(['run', 'show', '--log', run!.id]);
  t.is(shownLog.code, 0, shownLog.stderr);
  t.is(shownLog.stdout, log.stdout);
  t.is((await knit(['run', 'show', '-f', run!.id])).code, 2);
  t.deepEqual(parseJson<PlanDetail[]>(await knit(['plan', 'find', '--in-tag', 'cli:data', '--out-tag', 'cli:model'])).map((p) => p.id), [plan.id]);
  t.deepEqual(parseJson<PlanDetail>(await knit(['plan', 'resource', '-s', 'cpu=1', '-u', 'memory', plan.id])).resources, { cpu: '1' });
  const finished = parseJson<Array<{ id: string }>>(await knit(['data', 'find', '-t', 'cli:model', '--transient', 'no'])).map((d) => d.id);
  t.true(finished.includes(run!.outputs[0]!.dataId!));
  t.deepEqual(parseJson(await knit(['data', 'find', '-t', 'cli:model', '--transient', 'yes'])), []);
});

test.serial('plan files are checked before they are sent, and bad ones are refused naming the field', async (t) => {
  const broken = join(work.path, 'broken.yaml');
  await writeFile(broken, 'image: x:1\ninputs:\n  - path: /in\n    tags: [a:b\n');
  const syntax = await knit(['plan', 'apply', broken]);
  t.is(syntax.code, 2);
  t.regex(syntax.stderr, /broken\.yaml:\d+:\d+/);
  const invalid = join(work.path, 'invalid.yaml');
  await writeFile(invalid, 'image: x:1\ninputs:\n  - path: in\n    tags: ["a:b"]\n');
  const refused = await knit(['plan', 'apply', invalid]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /inputs\[0\]\.path: must be absolute/);
  t.is((await knit(['plan', 'apply', join(work.path, 'missing.yaml')])).code, 2);
});

test.serial('run wait exits non-zero for a failed run; stop, retry and rm work from the CLI', async (t) => {
  const plan = await s.plan({ script: 'sleep 1; exit 3', inputs: [{ path: '/in', tags: ['cli:fail'] }] });
  await s.push({ a: '1' }, ['cli:fail']);
  const [run] = await s.waitRuns('the failing run', (rs) => rs.length === 1, { plans: [plan.id] });
  const badTimeout = await knit(['run', 'wait', '--timeout', 'forever', run!.id]);
  t.is(badTimeout.code, 2);
  t.regex(badTimeout.stderr, /--timeout "forever": must be a duration/);
  const waited = await knit(['run', 'wait', run!.id]);
  t.is(waited.code, 1);
  t.regex(waited.stderr, /ended failed: the container exited with code 3/);
  const retried = await knit(['run', 'retry', run!.id]);
  t.is(retried.code, 0, retried.stderr);
  t.is(parseJson<RunDetail>(retried).attempt, 2);
  t.is((await knit(['run', 'wait', run!.id])).code, 1);
  const removed = await knit(['run', 'rm', run!.id]);
  t.is(parseJson<RunDetail>(removed).status, 'invalidated');
  const stop = await knit(['run', 'stop', '-x', run!.id]);
  t.is(stop.code, 1);
  t.regex(stop.stderr, /only a run in progress can be stopped/);
  const badStatus = await knit(['run', 'find', '-s', 'sleeping']);
  t.is(badStatus.code, 2);
});

async function dirWith(name: string, content: string): Promise<string> {
  const d = join(work.path, `src-${name}-${Date.now()}`);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, name), content);
  return d;
}

test.serial('run log and run wait say why a deactivated run does not start, instead of nothing', async (t) => {
  const plan = await s.plan({ script: 'echo never', inputs: [{ path: '/in', tags: ['cli:held'] }], active: false });
  await s.push({ a: '1' }, ['cli:held']);
  const [run] = await s.waitRuns('the held run', (rs) => rs.length === 1, { plans: [plan.id] });
  t.is(run!.status, 'deactivated');
  const log = await knit(['run', 'log', run!.id]);
  t.is(log.code, 0, log.stderr);
  t.is(log.stdout, '');
  t.regex(log.stderr, new RegExp(`run ${run!.id} is deactivated: its plan ${plan.id} is inactive, so it does not start until knit plan active yes ${plan.id}`));
  const waited = await knit(['run', 'wait', '--timeout', '2s', run!.id]);
  t.is(waited.code, 1);
  t.regex(waited.stderr, /is deactivated: its plan .* is inactive/);
  t.regex(waited.stderr, /still deactivated after the timeout/);
});
