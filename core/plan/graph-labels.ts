import { shortIds } from '../render/short-id.js';
import type { PlanGraph } from './graph-dot.js';

type GraphPlan = PlanGraph['plans'][number];

/** Short ids for the plans of a graph, unambiguous among them. */
export function planShortIds(g: PlanGraph): Map<string, string> {
  return shortIds(g.plans.map((p) => p.id));
}

/** A plan's label lines in the drawings (dot, mermaid). */
export function planLabelLines(p: GraphPlan, short: ReadonlyMap<string, string>): string[] {
  return [`plan ${short.get(p.id)}`, p.image, ...(p.active ? [] : ['(inactive)'])];
}

/** What an edge carries: the output (or log) of one plan, to the input of the next. */
export const feedLabel = (e: PlanGraph['edges'][number]) => `${e.output} → ${e.input}`;
