import { dotString } from '../graphviz/quote.js';
import { isSystemKey } from '../tags/tag.js';
import type { Lineage } from './graph.js';

const short = (id: string) => id.slice(0, 8);

/**
 * Graphviz dot for a lineage: Data as boxes (tags listed), Runs as ellipses (image and status),
 * uploads as small grey roots. Renders with `dot -Tsvg`.
 */
export function lineageToDot(l: Lineage): string {
  const lines = ['digraph lineage {', '  rankdir=LR;', '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];'];
  for (const n of l.nodes) {
    if (n.kind === 'data') {
      const user = n.tags.filter((t) => !isSystemKey(t.slice(0, t.indexOf(':'))));
      const label = [`data ${short(n.id)}`, ...user, ...(n.transient ? [`(${n.transient})`] : [])].join('\n');
      const style = n.id === l.root ? 'filled,bold' : 'filled';
      const color = n.transient === 'failed' ? '#f8d7da' : n.transient === 'processing' ? '#fff3cd' : '#e8f1fb';
      lines.push(`  ${dotString(n.id)} [shape=box, style=${dotString(style)}, fillcolor=${dotString(color)}, label=${dotString(label)}];`);
    } else if (n.upload) {
      lines.push(`  ${dotString(n.id)} [shape=ellipse, style=filled, fillcolor="#eeeeee", label="upload"];`);
    } else {
      const color = n.status === 'done' ? '#d4edda' : n.status === 'failed' ? '#f8d7da' : '#fff3cd';
      lines.push(`  ${dotString(n.id)} [shape=ellipse, style=filled, fillcolor=${dotString(color)}, label=${dotString(`run ${short(n.id)}\n${n.image ?? ''}\n${n.status}`)}];`);
    }
  }
  for (const e of l.edges) lines.push(`  ${dotString(e.from)} -> ${dotString(e.to)} [label=${dotString(e.label)}];`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
