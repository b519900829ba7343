import test from 'ava';
import { matcherWorkflowId, runWorkflowId, wakeSignal } from '../../workflows/definitions.js';
import { TestStack, terminal } from '../helpers/stack.js';

let s: TestStack;
test.before(async () => {
  s = await TestStack.start({ workerEnv: { KNIT_MAX_CONCURRENT_RUNS: '4' } });
});
test.after.always(() => s?.close());

test.serial('concurrent pushes and a storm of duplicate wake-ups never create a duplicate run', async (t) => {
  const plan = await s.plan({ script: 'cat /in/x/n > /out/o/n', inputs: [{ path: '/in/x', tags: ['storm:in'] }], outputs: [{ path: '/out/o', tags: ['storm:out'] }] });
  const matcher = s.temporal.workflow.getHandle(matcherWorkflowId(s.instance));
  const pushes = Array.from({ length: 24 }, (_, i) => s.push({ n: String(i) }, ['storm:in']));
  const signals = Array.from({ length: 60 }, () => matcher.signal(wakeSignal));
  const data = await Promise.all(pushes);
  await Promise.all(signals);
  const runs = await s.waitRuns('24 runs done', (rs) => rs.length === 24 && rs.every(terminal), { plans: [plan.id] });
  t.true(runs.every((r) => r.status === 'done'));
  t.deepEqual(runs.map((r) => r.inputs[0]!.dataId).sort(), data.map((d) => d.id).sort());
  // Wake it some more: nothing is left to create.
  await Promise.all(Array.from({ length: 20 }, () => matcher.signal(wakeSignal)));
  await new Promise((r) => setTimeout(r, 1500));
  t.is((await s.runs({ plans: [plan.id] })).length, 24);
  for (const r of runs.slice(0, 6)) {
    const executions = [];
    for await (const w of s.temporal.workflow.list({ query: `WorkflowId = '${runWorkflowId(r.id)}'` })) executions.push(w);
    t.is(executions.length, 1, `one execution of run-${r.id}`);
  }
});

test.serial('the run workflows are findable in Temporal by readable id and by plan and status', async (t) => {
  const [run] = await s.runs({ statuses: ['done'] });
  const handle = s.temporal.workflow.getHandle(runWorkflowId(run!.id));
  const described = await handle.describe();
  t.is(described.workflowId, `run-${run!.id}`);
  t.is(described.type, 'run');
  const byPlan = [];
  for await (const w of s.temporal.workflow.list({ query: `KnitPlanId = '${run!.plan.id}' AND KnitRunStatus = 'done'` })) byPlan.push(w.workflowId);
  t.true(byPlan.includes(`run-${run!.id}`));
  const result = (await handle.result()) as { status: string };
  t.is(result.status, 'done');
});
