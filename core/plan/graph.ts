import { isSystemKey, type Tag } from '../tags/tag.js';

export interface PlanShape {
  id: string;
  inputs: Array<{ path: string; tags: Tag[] }>;
  /** Outputs and the log, each with the tags its Data will carry. */
  produces: Array<{ path: string; tags: Tag[] }>;
}

export interface FeedEdge {
  from: string;
  output: string;
  to: string;
  input: string;
}

/**
 * Whether Data produced with `outputTags` is taken by an input selecting `inputTags`. An input
 * selecting by knit#id or knit#timestamp names existing Data, so new outputs never match it.
 */
export function feeds(outputTags: readonly Tag[], inputTags: readonly Tag[]): boolean {
  if (inputTags.some((t) => isSystemKey(t.key))) return false;
  return inputTags.every((want) => outputTags.some((t) => t.key === want.key && t.value === want.value));
}

export function feedEdges(plans: readonly PlanShape[]): FeedEdge[] {
  const edges: FeedEdge[] = [];
  for (const a of plans) {
    for (const out of a.produces) {
      for (const b of plans) {
        for (const inp of b.inputs) if (feeds(out.tags, inp.tags)) edges.push({ from: a.id, output: out.path, to: b.id, input: inp.path });
      }
    }
  }
  return edges;
}

/**
 * The plans within `up` generations upstream of `start` and `down` downstream (each a number or
 * "all"), `start` included: the part of the feed graph `knit plan graph ID` draws.
 */
export function plansAround(edges: readonly FeedEdge[], start: string, up: number | 'all', down: number | 'all'): Set<string> {
  const reached = new Set([start]);
  const walk = (depth: number | 'all', next: (id: string) => string[]) => {
    let frontier = [start];
    const seen = new Set([start]);
    for (let level = 0; frontier.length > 0 && (depth === 'all' || level < depth); level++) {
      frontier = frontier.flatMap(next).filter((id) => !seen.has(id) && (seen.add(id), true));
      for (const id of frontier) reached.add(id);
    }
  };
  walk(up, (id) => edges.filter((e) => e.to === id).map((e) => e.from));
  walk(down, (id) => edges.filter((e) => e.from === id).map((e) => e.to));
  return reached;
}

/**
 * A cycle of plans through `start`, as the edges walked, or undefined. A cycle means a plan's
 * outputs would, directly or through other plans, become its own inputs: runs without end.
 */
export function findCycle(plans: readonly PlanShape[], start: string): FeedEdge[] | undefined {
  const edges = feedEdges(plans);
  const out = new Map<string, FeedEdge[]>();
  for (const e of edges) out.set(e.from, [...(out.get(e.from) ?? []), e]);
  const visited = new Set<string>();
  const path: FeedEdge[] = [];
  const dfs = (node: string): boolean => {
    for (const e of out.get(node) ?? []) {
      path.push(e);
      if (e.to === start) return true;
      if (!visited.has(e.to)) {
        visited.add(e.to);
        if (dfs(e.to)) return true;
      }
      path.pop();
    }
    return false;
  };
  return dfs(start) ? path : undefined;
}
