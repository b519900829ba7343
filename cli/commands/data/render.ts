import type { DataDetail } from '../../../core/data/model.js';
import { formatBytes } from '../../../core/config/units.js';
import { isSystemKey } from '../../../core/tags/tag.js';
import { printJson, printTable, wantsJson, type OutputArgs } from '../../output.js';

export function userTags(d: DataDetail): string[] {
  return d.tags.filter((t) => !isSystemKey(t.slice(0, t.indexOf(':'))));
}

export function printDataList(args: OutputArgs, list: readonly DataDetail[]): void {
  if (wantsJson(args)) return printJson(list);
  printTable(
    ['ID', 'CREATED', 'SIZE', 'TAGS'],
    list.map((d) => [d.id, d.createdAt, d.size === null ? '(writing)' : formatBytes(d.size), userTags(d).join(' ')]),
  );
}

export function printData(args: OutputArgs, d: DataDetail): void {
  if (wantsJson(args)) return printJson(d);
  const origin = d.origin.type === 'upload' ? 'uploaded' : `run ${d.origin.runId} (${d.origin.output})`;
  const lines = [
    `id:       ${d.id}`,
    `created:  ${d.createdAt}`,
    `size:     ${d.size === null ? '(still being written)' : `${formatBytes(d.size)} (${d.size} bytes)`}`,
    `digest:   ${d.digest ?? '(still being written)'}`,
    `origin:   ${origin}`,
    'tags:',
    ...d.tags.map((t) => `  ${t}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
