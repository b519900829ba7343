import type { RunDetail } from '../../../core/run/model.js';
import { printJson, printTable, wantsJson, type OutputArgs } from '../../output.js';

export function printRuns(args: OutputArgs, runs: readonly RunDetail[]): void {
  if (wantsJson(args)) return printJson(runs);
  printTable(
    ['ID', 'STATUS', 'PLAN', 'IMAGE', 'UPDATED', 'EXIT'],
    runs.map((r) => [r.id, r.status, r.plan.id, r.plan.image, r.updatedAt, r.exitCode === null ? '' : String(r.exitCode)]),
  );
}

export function printRun(args: OutputArgs, r: RunDetail): void {
  if (wantsJson(args)) return printJson(r);
  const lines = [
    `id:        ${r.id}`,
    `status:    ${r.status}${r.attempt > 1 ? ` (attempt ${r.attempt})` : ''}`,
    `plan:      ${r.plan.id} (${r.plan.image})`,
    `created:   ${r.createdAt}`,
    `started:   ${r.startedAt ?? '-'}`,
    `finished:  ${r.finishedAt ?? '-'}`,
    `exit code: ${r.exitCode ?? '-'}`,
    ...(r.message ? [`message:   ${r.message}`] : []),
    'inputs:',
    ...r.inputs.map((i) => `  ${i.path} <- ${i.dataId}`),
    'outputs:',
    ...r.outputs.map((o) => `  ${o.path} -> ${o.dataId ?? '(not yet)'}`),
    `  log -> ${r.log.dataId ?? '(not yet)'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
