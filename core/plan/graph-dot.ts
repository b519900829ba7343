import type { FeedEdge } from './graph.js';

export interface PlanGraph {
  plans: Array<{ id: string; image: string; active: boolean }>;
  edges: FeedEdge[];
}

const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

/** Graphviz dot of plans, an edge wherever an output's (or the log's) tags feed an input. */
export function planGraphToDot(g: PlanGraph): string {
  const lines = ['digraph plans {', '  rankdir=LR;', '  node [shape=box, fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];'];
  for (const p of g.plans) {
    lines.push(`  ${quote(p.id)} [label=${quote(`plan ${p.id.slice(0, 8)}\n${p.image}${p.active ? '' : '\n(inactive)'}`)}${p.active ? '' : ', style=dashed'}];`);
  }
  for (const e of g.edges) lines.push(`  ${quote(e.from)} -> ${quote(e.to)} [label=${quote(`${e.output} → ${e.input}`)}];`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
