import { groupBy } from '../lineage/graph.js';
import { drawTree, type TreeItem } from '../render/tree.js';
import type { PlanGraph } from './graph-dot.js';
import { feedLabel, planLabelLines, planShortIds } from './graph-labels.js';

/**
 * Plans as indented text: each plan nothing feeds on top, the plans it feeds under it, each line
 * led by the edge (`/out → /in`). Plans only a cycle reaches start trees of their own; a plan
 * reached twice is drawn once, then referred to.
 */
export function planGraphToTree(g: PlanGraph): string {
  const short = planShortIds(g);
  const plans = new Map(g.plans.map((p) => [p.id, p]));
  const outOf = groupBy(g.edges, (e) => e.from);
  const fed = new Set(g.edges.filter((e) => plans.has(e.from)).map((e) => e.to));
  const describe = (id: string) => planLabelLines(plans.get(id)!, short).join('  ');
  const next = (id: string): TreeItem[] =>
    (outOf.get(id) ?? []).filter((e) => plans.has(e.to)).map((e) => ({
      key: e.to,
      line: `${feedLabel(e)}  ${describe(e.to)}`,
      ref: `${feedLabel(e)}  plan ${short.get(e.to)}`,
      children: () => next(e.to),
    }));
  const seen = new Set<string>();
  const lines: string[] = [];
  const start = (id: string) => {
    seen.add(id);
    lines.push(describe(id), ...drawTree(next(id), seen));
  };
  for (const p of g.plans) if (!fed.has(p.id)) start(p.id);
  for (const p of g.plans) if (!seen.has(p.id)) start(p.id);
  if (lines.length === 0) return 'no plans\n';
  return `${lines.join('\n')}\n`;
}
