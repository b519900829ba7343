import { mermaidIds, mermaidLabel } from '../mermaid/quote.js';
import type { PlanGraph } from './graph-dot.js';
import { feedLabel, planLabelLines, planShortIds } from './graph-labels.js';

/** A mermaid flowchart of plans: boxes, inactive ones dashed and grey, edges labelled output → input. */
export function planGraphToMermaid(g: PlanGraph): string {
  const short = planShortIds(g);
  const ids = mermaidIds(g.plans.map((p) => p.id));
  const lines = ['flowchart LR', '  classDef active fill:#e8f1fb,stroke:#4a78b0', '  classDef inactive fill:#eeeeee,stroke:#888888,stroke-dasharray:5 5,color:#666666'];
  for (const p of g.plans) lines.push(`  ${ids.get(p.id)}[${mermaidLabel(planLabelLines(p, short).join('\n'))}]:::${p.active ? 'active' : 'inactive'}`);
  // An edge to a plan the graph does not hold would make mermaid invent a node: such edges are left out.
  for (const e of g.edges) {
    const from = ids.get(e.from);
    const to = ids.get(e.to);
    if (from && to) lines.push(`  ${from} -->|${mermaidLabel(feedLabel(e))}| ${to}`);
  }
  return `${lines.join('\n')}\n`;
}
