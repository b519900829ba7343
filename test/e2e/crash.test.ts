import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DockerEngine } from '../../executor/docker/engine.js';
import { runWorkflowId } from '../../workflows/definitions.js';
import { watchContainerCreates } from '../helpers/docker-events.js';
import { TestStack, terminal } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Exactly once under crashes: the worker is SIGKILLed at each activity boundary (right before an
 * activity's work, or right after it but before Temporal hears of it), or while the container
 * runs; a new worker takes over. The run must finish once, with one set of outputs, from one
 * container, in one workflow execution.
 */
const faults = [
  'beginAttempt:after',
  'stageInputs:after',
  'createContainer:after',
  'runContainer:before',
  'runContainer:after',
  'collectOutputs:after',
  'collectLog:after',
  'finishAttempt:after',
  'cleanupAttempt:before',
  'while the container runs',
];

for (const fault of faults) {
  test(`a worker killed at ${fault} is replaced and the run completes exactly once`, async (t) => {
    const injected = fault.includes(':');
    const s = await TestStack.start({ workerEnv: { KNIT_STEP_TIMEOUT: '6s' } });
    t.teardown(() => s.close());
    const marker = join(s.home, 'fault-happened');
    if (injected) {
      await s.stopWorker();
      await s.startWorker({ KNIT_FAULT: fault, KNIT_FAULT_MARKER: marker });
    }
    const crashed = new Promise<void>((resolve) => s.worker!.once('exit', () => resolve()));
    // Watched live: a busy engine's event log (staging containers and volumes add to it) forgets
    // a create within minutes.
    const watch = watchContainerCreates(`knit.instance=${s.instance}`, 'knit.run');
    t.teardown(() => void watch.stop());
    await watch.ready;
    const plan = await s.plan({
      script: 'echo started; sleep 2; echo payload > /out/o/result; echo finished',
      inputs: [{ path: '/in', tags: ['crash:input'] }],
      outputs: [{ path: '/out/o', tags: ['crash:output'] }],
    });
    await s.push({ x: '1' }, ['crash:input']);

    if (injected) {
      await crashed;
      t.true(existsSync(marker), 'the fault fired');
    } else {
      await s.waitRuns('the container to run', (rs) => rs[0]?.status === 'running', { plans: [plan.id] });
      await s.killWorker();
    }
    await s.startWorker();

    const [run] = await s.waitRuns('the run to end', (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [plan.id] });
    t.is(run!.status, 'done', `${run!.message}\n${s.workerLog.slice(-3000)}`);
    t.is(run!.attempt, 1);
    const produced = await s.db.pool.query<{ producer_output: string; transient: string | null }>('SELECT producer_output, transient FROM data WHERE producer_run_id = $1 ORDER BY producer_output', [run!.id]);
    t.deepEqual(produced.rows, [
      { producer_output: '/out/o', transient: null },
      { producer_output: 'log', transient: null },
    ]);
    t.is((await s.runs({ plans: [plan.id] })).length, 1, 'one run, never two');

    t.is(watch.stop().get(run!.id), 1, 'one container ever created');
    await waitFor('cleanup', async () => (await new DockerEngine().list({ 'knit.instance': s.instance })).length === 0);

    const executions = [];
    for await (const w of s.temporal.workflow.list({ query: `WorkflowId = '${runWorkflowId(run!.id)}'` })) executions.push(w);
    t.is(executions.length, 1, 'one workflow execution');
  });
}
