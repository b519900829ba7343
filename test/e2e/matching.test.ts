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
