import test from 'ava';
import { TestStack, terminal } from '../helpers/stack.js';

let s: TestStack;
test.before(async () => {
  s = await TestStack.start();
});
test.after.always(() => s?.close());

test.serial('2 datasets x 3 models run 6 times, a 4th model adds 2 more, and nothing repeats', async (t) => {
  const plan = await s.plan({
    script: 'cat /in/data/name /in/model/name > /out/result/pair',
    inputs: [
      { path: '/in/data', tags: ['kind:dataset', 'suite:cross'] },
      { path: '/in/model', tags: ['kind:model', 'suite:cross'] },
    ],
    outputs: [{ path: '/out/result', tags: ['kind:result', 'suite:cross'] }],
  });
  for (const n of ['d1', 'd2']) await s.push({ name: n }, ['kind:dataset', 'suite:cross', 'extra:tags-are-fine']);
  for (const n of ['m1', 'm2', 'm3']) await s.push({ name: n }, ['kind:model', 'suite:cross']);
  let runs = await s.waitRuns('6 finished runs', (rs) => rs.length === 6 && rs.every(terminal), { plans: [plan.id] });
  t.true(runs.every((r) => r.status === 'done'), JSON.stringify(runs.map((r) => [r.status, r.message])));
  const combos = new Set(runs.map((r) => r.inputs.map((i) => i.dataId).join('+')));
  t.is(combos.size, 6, 'six distinct combinations');

  await s.push({ name: 'm4' }, ['kind:model', 'suite:cross']);
  runs = await s.waitRuns('8 finished runs', (rs) => rs.length === 8 && rs.every(terminal), { plans: [plan.id] });
  t.is(new Set(runs.map((r) => r.inputs.map((i) => i.dataId).join('+'))).size, 8);
  // A wake-up with nothing new changes nothing.
  await s.push({ name: 'unrelated' }, ['kind:other']);
  await new Promise((r) => setTimeout(r, 1500));
  t.is((await s.runs({ plans: [plan.id] })).length, 8);
});

test.serial('runs created while a plan is inactive wait as deactivated and start when it is reactivated', async (t) => {
  const plan = await s.plan({ script: 'true', active: false, inputs: [{ path: '/in', tags: ['suite:inactive-e2e'] }] });
  await s.push({ a: '1' }, ['suite:inactive-e2e']);
  await s.push({ a: '2' }, ['suite:inactive-e2e']);
  const waiting = await s.waitRuns('two deactivated runs', (rs) => rs.length === 2, { plans: [plan.id] });
  await new Promise((r) => setTimeout(r, 1000));
  t.deepEqual((await s.runs({ plans: [plan.id] })).map((r) => r.status), ['deactivated', 'deactivated']);
  await s.client.setPlanActive(plan.id, true);
  const done = await s.waitRuns('both runs done', (rs) => rs.length === 2 && rs.every((r) => r.status === 'done'), { plans: [plan.id] });
  t.deepEqual(done.map((r) => r.id).sort(), waiting.map((r) => r.id).sort(), 'the same runs, not new ones');
});

test.serial('removing a tag stops future runs but never touches past runs or lineage', async (t) => {
  const plan = await s.plan({ script: 'true', inputs: [{ path: '/in', tags: ['suite:untag', 'use:yes'] }] });
  const d = await s.push({ a: '1' }, ['suite:untag', 'use:yes']);
  const [run] = await s.waitRuns('the run', (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [plan.id] });
  await s.client.tagData(d.id, { remove: ['use:yes'] });
  const later = await s.push({ a: '2' }, ['suite:untag']);
  await new Promise((r) => setTimeout(r, 1500));
  const runs = await s.runs({ plans: [plan.id] });
  t.deepEqual(runs.map((r) => r.id), [run!.id]);
  t.deepEqual(runs[0]!.inputs.map((i) => i.dataId), [d.id]);
  t.false(runs.some((r) => r.inputs.some((i) => i.dataId === later.id)));
});
