import test from 'ava';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { WORKFLOW_BUNDLE } from '../../worker/bundle.js';
import { matcherWorkflowId, runWorkflowId } from '../../workflows/definitions.js';
import { TestStack, terminal } from '../helpers/stack.js';

Runtime.install({ logger: new DefaultLogger('WARN') });

/** Recorded histories of earlier versions of the workflows: today's code must replay them. */
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/histories/', import.meta.url));

test('today\'s workflow code replays histories of real runs, stops and the matcher', async (t) => {
  const s = await TestStack.start();
  t.teardown(() => s.close());
  const plan = await s.plan({ script: 'echo hi > /out/o/f', inputs: [{ path: '/in', tags: ['replay:in'] }], outputs: [{ path: '/out/o', tags: ['replay:out'] }] });
  const stoppable = await s.plan({ script: 'sleep 30', inputs: [{ path: '/in', tags: ['replay:in'] }] });
  const failing = await s.plan({ script: 'exit 3', inputs: [{ path: '/in', tags: ['replay:in'] }] });
  const cancellable = await s.plan({ script: 'sleep 30', inputs: [{ path: '/in', tags: ['replay:in'] }], log: { tags: ['replay:cancelled'] } });
  await s.push({ a: '1' }, ['replay:in']);
  const [stopping] = await s.waitRuns('the long run to run', (rs) => rs[0]?.status === 'running', { plans: [stoppable.id] });
  await s.client.stopRun(stopping!.id);
  const [cancelling] = await s.waitRuns('the other long run to run', (rs) => rs[0]?.status === 'running', { plans: [cancellable.id] });
  await s.temporal.workflow.getHandle(runWorkflowId(cancelling!.id)).cancel();
  const runs = await s.waitRuns('four runs over', (rs) => rs.length === 4 && rs.every(terminal), { plans: [plan.id, stoppable.id, failing.id, cancellable.id] });
  t.deepEqual(runs.map((r) => r.status).sort(), ['done', 'done', 'failed', 'failed']);

  const histories: Array<[string, unknown]> = [];
  const kind = (r: (typeof runs)[number]) => (r.plan.id === stoppable.id ? 'stopped' : r.plan.id === cancellable.id ? 'cancelled' : 'plain');
  for (const r of runs) {
    // A run is over in the database a moment before its workflow closes: wait for the whole history.
    const handle = s.temporal.workflow.getHandle(runWorkflowId(r.id));
    await handle.result().catch(() => {});
    histories.push([`run-${r.status}-${kind(r)}`, await handle.fetchHistory()]);
  }
  histories.push(['matcher', await s.temporal.workflow.getHandle(matcherWorkflowId(s.instance)).fetchHistory()]);

  for (const [name, history] of histories) {
    await t.notThrowsAsync(Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE } }, history), name);
    if (process.env['KNIT_RECORD_HISTORIES']) await writeFile(join(FIXTURES, `${name}.json`), historyToJSON(history as never));
  }
});

test('recorded histories replay without nondeterminism', async (t) => {
  const files = (await readdir(FIXTURES)).filter((f) => f.endsWith('.json'));
  t.true(files.length >= 5, `fixtures in ${FIXTURES}: ${files.join(', ')}`);
  for (const f of files) {
    const history = JSON.parse(await readFile(join(FIXTURES, f), 'utf8')) as unknown;
    await t.notThrowsAsync(Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE } }, history), f);
  }
});
