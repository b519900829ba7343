import { shortIds } from '../render/short-id.js';
import { isSystemKey } from '../tags/tag.js';
import type { Lineage, LineageNode } from './graph.js';

type DataNode = Extract<LineageNode, { kind: 'data' }>;
type RunNode = Extract<LineageNode, { kind: 'run' }>;

/** The tags a person set: knit# tags are left out, their id, time and transient state are shown apart. */
export function userTags(d: DataNode): string[] {
  return d.tags.filter((t) => !isSystemKey(t.slice(0, t.indexOf(':'))));
}

/** Short ids for a lineage's Data, runs and plans; an upload's pseudo run is drawn as "upload" and needs none. */
export function lineageShortIds(l: Lineage): Map<string, string> {
  const ids: string[] = [];
  for (const n of l.nodes) {
    if (n.kind === 'data') ids.push(n.id);
    else if (!n.upload) ids.push(n.id, ...(n.planId !== null ? [n.planId] : []));
  }
  return shortIds(ids);
}

/** The lines of a node's label in the drawings (dot, mermaid): what it is, then what tells it apart. */
export function nodeLabelLines(n: LineageNode, short: ReadonlyMap<string, string>): string[] {
  if (n.kind === 'data') return dataLabelLines(n, short);
  return runLabelLines(n, short);
}

function dataLabelLines(n: DataNode, short: ReadonlyMap<string, string>): string[] {
  return [`data ${short.get(n.id)}`, ...userTags(n), ...(n.transient ? [`(${n.transient})`] : [])];
}

function runLabelLines(n: RunNode, short: ReadonlyMap<string, string>): string[] {
  if (n.upload) return ['upload'];
  const exit = n.exitCode !== null ? ` (exit ${n.exitCode})` : '';
  return [`run ${short.get(n.id)}`, n.image ?? '', `${n.status}${exit}`];
}
