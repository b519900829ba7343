import type { PlanDetail, PlanPreview } from '../../../core/plan/model.js';
import { planFileYaml } from '../../../core/plan/yaml.js';
import { formatTable, printJson, printTable, wantsJson, type OutputArgs } from '../../output.js';

// Short ids in tables: 8 hex characters, which every command taking an id accepts as a prefix.
const short = (id: string) => id.slice(0, 8);

export function printPlans(args: OutputArgs, plans: readonly PlanDetail[]): void {
  if (wantsJson(args)) return printJson(plans);
  printTable(
    ['ID', 'IMAGE', 'ACTIVE', 'UPSTREAMS', 'DOWNSTREAMS', 'INPUTS', 'OUTPUTS'],
    plans.map((p) => [
      p.id,
      p.image,
      p.active ? 'yes' : 'no',
      [...new Set(p.upstreams.map((l) => short(l.planId)))].join(',') || '-',
      [...new Set(p.downstreams.map((l) => short(l.planId)))].join(',') || '-',
      p.inputs.map((i) => `${i.path}<-[${i.tags.join(',')}]`).join(' '),
      p.outputs.map((o) => `${o.path}->[${o.tags.join(',')}]`).join(' '),
    ]),
  );
}

/** On a terminal, a plan reads as the plan file it came from, with its id on top. */
export function printPlan(args: OutputArgs, p: PlanDetail): void {
  if (wantsJson(args)) return printJson(p);
  const { id, createdAt, matchError, upstreams, downstreams } = p;
  process.stdout.write(`# plan ${id}, applied ${createdAt}\n`);
  if (matchError) {
    process.stdout.write(`# matching failed ${matchError.failures} time(s), last at ${matchError.failedAt}; next try ${matchError.retryAt}:\n#   ${matchError.message}\n`);
  }
  process.stdout.write(planFileYaml(p));
  // The neighbours as comments, so what is printed still reads (and applies) as a plan file.
  const section = (title: string, headers: string[], rows: string[][]) =>
    process.stdout.write(rows.length === 0 ? `# ${title}: none\n` : `# ${title}:\n${formatTable(headers, rows).map((l) => `#   ${l}`).join('\n')}\n`);
  section('upstreams (plans whose outputs this plan takes)', ['INPUT', 'PLAN', 'IMAGE', 'OUTPUT'], upstreams.map((l) => [l.input, l.planId, l.image, l.output]));
  section('downstreams (plans that take this plan\'s outputs)', ['OUTPUT', 'PLAN', 'IMAGE', 'INPUT'], downstreams.map((l) => [l.output, l.planId, l.image, l.input]));
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
