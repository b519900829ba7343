import { stringify } from 'yaml';
import type { PlanDetail, PlanPreview } from '../../../core/plan/model.js';
import { printJson, printTable, wantsJson, type OutputArgs } from '../../output.js';

export function printPlans(args: OutputArgs, plans: readonly PlanDetail[]): void {
  if (wantsJson(args)) return printJson(plans);
  printTable(
    ['ID', 'IMAGE', 'ACTIVE', 'INPUTS', 'OUTPUTS'],
    plans.map((p) => [
      p.id,
      p.image,
      p.active ? 'yes' : 'no',
      p.inputs.map((i) => `${i.path}<-[${i.tags.join(',')}]`).join(' '),
      p.outputs.map((o) => `${o.path}->[${o.tags.join(',')}]`).join(' '),
    ]),
  );
}

/** On a terminal, a plan reads as the plan file it came from, with its id on top. */
export function printPlan(args: OutputArgs, p: PlanDetail): void {
  if (wantsJson(args)) return printJson(p);
  const { id, createdAt, matchError, ...spec } = p;
  process.stdout.write(`# plan ${id}, applied ${createdAt}\n`);
  if (matchError) {
    process.stdout.write(`# matching failed ${matchError.failures} time(s), last at ${matchError.failedAt}; next try ${matchError.retryAt}:\n#   ${matchError.message}\n`);
  }
  process.stdout.write(stringify(spec));
}

export function printPreview(args: OutputArgs, preview: PlanPreview): void {
  if (wantsJson(args)) return printJson(preview);
  process.stdout.write(`would start ${preview.runs} run${preview.runs === 1 ? '' : 's'}\n`);
  for (const i of preview.inputs) {
    process.stdout.write(`  ${i.path} [${i.tags.join(', ')}]: ${i.dataIds.length} Data\n`);
    for (const id of i.dataIds.slice(0, 20)) process.stdout.write(`    ${id}\n`);
    if (i.dataIds.length > 20) process.stdout.write(`    … and ${i.dataIds.length - 20} more\n`);
  }
}
