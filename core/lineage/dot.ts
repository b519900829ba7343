import { dotString } from '../graphviz/quote.js';
import { statusTone, TONE_FILL } from '../render/tone.js';
import type { Lineage } from './graph.js';
import { lineageShortIds, nodeLabelLines } from './labels.js';

/**
 * Graphviz dot for a lineage: Data as boxes (tags listed), Runs as ellipses (image and status),
 * uploads as small grey roots. Renders with `dot -Tsvg`.
 */
export function lineageToDot(l: Lineage): string {
  const short = lineageShortIds(l);
  const lines = ['digraph lineage {', '  rankdir=LR;', '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];'];
  for (const n of l.nodes) {
    const label = dotString(nodeLabelLines(n, short).join('\n'));
    if (n.kind === 'data') {
      const style = n.id === l.root ? 'filled,bold' : 'filled';
      const color = n.transient === 'failed' ? TONE_FILL.bad : n.transient === 'processing' ? TONE_FILL.busy : '#e8f1fb';
      lines.push(`  ${dotString(n.id)} [shape=box, style=${dotString(style)}, fillcolor=${dotString(color)}, label=${label}];`);
    } else if (n.upload) {
      lines.push(`  ${dotString(n.id)} [shape=ellipse, style=filled, fillcolor=${dotString(TONE_FILL.idle)}, label=${label}];`);
    } else {
      lines.push(`  ${dotString(n.id)} [shape=ellipse, style=filled, fillcolor=${dotString(TONE_FILL[statusTone(n.status)])}, label=${label}];`);
    }
  }
  for (const e of l.edges) lines.push(`  ${dotString(e.from)} -> ${dotString(e.to)} [label=${dotString(e.label)}];`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
