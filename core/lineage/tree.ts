import { drawTree, type TreeItem } from '../render/tree.js';
import { paint, statusTone } from '../render/tone.js';
import { groupBy, type Lineage, type LineageNode } from './graph.js';
import { lineageShortIds, userTags } from './labels.js';

/**
 * A lineage as indented text, for a person at a terminal: the traced Data on top, then what it
 * came from (producing runs, their inputs, back to the uploads) and what it led to (the runs
 * reading it, their outputs, onwards). Each line starts with the edge that leads to it: the mount
 * path or output (`/in/0 ← data …` upstream, `/out/0 → data …` downstream). A node reached twice
 * is drawn once, then referred to. `color` paints run statuses for a terminal.
 */
export function lineageToTree(l: Lineage, opts: { color?: boolean } = {}): string {
  const color = opts.color ?? false;
  const short = lineageShortIds(l);
  const nodes = new Map(l.nodes.map((n) => [n.id, n]));
  const into = groupBy(l.edges, (e) => e.to);
  const outOf = groupBy(l.edges, (e) => e.from);

  const describe = (n: LineageNode): string => {
    if (n.kind === 'data') {
      const parts = [`data ${short.get(n.id)}`, ...userTags(n), n.createdAt];
      if (n.transient) parts.push(`[${n.transient}]`);
      return parts.join('  ');
    }
    if (n.upload) return 'upload';
    const plan = n.planId !== null ? `plan ${short.get(n.planId)}` : 'no plan';
    const exit = n.exitCode !== null ? `exit ${n.exitCode}` : 'no exit code';
    return [`run ${short.get(n.id)}`, plan, n.image ?? '-', paint(n.status, statusTone(n.status), color), exit].join('  ');
  };
  const ref = (n: LineageNode) => (n.kind === 'data' ? `data ${short.get(n.id)}` : `run ${short.get(n.id)}`);
  // Upstream, an upload is its Data's whole story; its label says as much, so it is not repeated.
  const item = (id: string, label: string, arrow: string, next: (id: string) => TreeItem[]): TreeItem | undefined => {
    const n = nodes.get(id);
    if (!n) return undefined;
    const line = n.kind === 'run' && n.upload ? describe(n) : `${label} ${arrow} ${describe(n)}`;
    return { key: id, line, ref: `${label} ${arrow} ${ref(n)}`, children: () => next(id) };
  };
  const upstream = (id: string): TreeItem[] =>
    (into.get(id) ?? []).flatMap((e) => item(e.from, e.label, '←', upstream) ?? []);
  const downstream = (id: string): TreeItem[] =>
    (outOf.get(id) ?? []).flatMap((e) => item(e.to, e.label, '→', downstream) ?? []);

  const root = nodes.get(l.root);
  if (!root) return `data ${l.root} (not in this lineage)\n`;
  const seen = new Set([l.root]);
  const section = (title: string, items: TreeItem[]) => (items.length === 0 ? [`${title} nothing traced`] : [title, ...drawTree(items, seen)]);
  const lines = [describe(root), ...section('came from:', upstream(l.root)), ...section('led to:', downstream(l.root))];
  return `${lines.join('\n')}\n`;
}
