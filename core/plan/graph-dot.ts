import { dotString } from '../graphviz/quote.js';
import type { FeedEdge } from './graph.js';
import { feedLabel, planLabelLines, planShortIds } from './graph-labels.js';

export interface PlanGraph {
  plans: Array<{ id: string; image: string; active: boolean }>;
  edges: FeedEdge[];
}

/** Graphviz dot of plans, an edge wherever an output's (or the log's) tags feed an input. */
export function planGraphToDot(g: PlanGraph): string {
  const short = planShortIds(g);
  const lines = ['digraph plans {', '  rankdir=LR;', '  node [shape=box, fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];'];
  for (const p of g.plans) {
    lines.push(`  ${dotString(p.id)} [label=${dotString(planLabelLines(p, short).join('\n'))}${p.active ? '' : ', style=dashed'}];`);
  }
  for (const e of g.edges) lines.push(`  ${dotString(e.from)} -> ${dotString(e.to)} [label=${dotString(feedLabel(e))}];`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
