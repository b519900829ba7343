import { mermaidIds, mermaidLabel } from '../mermaid/quote.js';
import { statusTone, TONE_FILL, type Tone } from '../render/tone.js';
import type { Lineage } from './graph.js';
import { lineageShortIds, nodeLabelLines } from './labels.js';

/** Mermaid class definitions: Data blue (the traced one bold), transient Data and runs by tone. */
const CLASSES = [
  'classDef data fill:#e8f1fb,stroke:#4a78b0',
  'classDef root fill:#e8f1fb,stroke:#1f4e8c,stroke-width:3px',
  ...(Object.entries(TONE_FILL) as Array<[Tone, string]>).map(([tone, fill]) => `classDef ${tone} fill:${fill},stroke:#666666`),
];

/**
 * A mermaid flowchart of a lineage, for Markdown that renders mermaid: Data as rectangles, runs
 * as stadiums coloured by status, uploads as circles, edges labelled with the mount path.
 */
export function lineageToMermaid(l: Lineage): string {
  const short = lineageShortIds(l);
  const ids = mermaidIds(l.nodes.map((n) => n.id));
  const lines = ['flowchart LR', ...CLASSES.map((c) => `  ${c}`)];
  for (const n of l.nodes) {
    const id = ids.get(n.id)!;
    const label = mermaidLabel(nodeLabelLines(n, short).join('\n'));
    if (n.kind === 'data') {
      const cls = n.transient === 'failed' ? 'bad' : n.transient === 'processing' ? 'busy' : n.id === l.root ? 'root' : 'data';
      lines.push(`  ${id}[${label}]:::${cls}`);
    } else if (n.upload) {
      lines.push(`  ${id}((${label})):::idle`);
    } else {
      lines.push(`  ${id}([${label}]):::${statusTone(n.status)}`);
    }
  }
  // An edge to a node the graph does not hold would make mermaid invent one: such edges are left out.
  for (const e of l.edges) {
    const from = ids.get(e.from);
    const to = ids.get(e.to);
    if (from && to) lines.push(`  ${from} -->|${mermaidLabel(e.label)}| ${to}`);
  }
  return `${lines.join('\n')}\n`;
}
