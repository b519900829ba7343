import dagre from '@dagrejs/dagre';
import type { Edge, Node } from '@xyflow/react';

export const NODE_WIDTH = 230;
export const NODE_HEIGHT = 64;

/** What a graph node shows and where a click leads (null: nowhere, e.g. an upload). */
export interface GraphNodeData extends Record<string, unknown> {
  kind: 'data' | 'run' | 'upload' | 'plan';
  title: string;
  subtitle: string;
  href: string | null;
  root: boolean;
}

/** Places nodes left to right with dagre (sources on the left), for React Flow to draw. */
export function layout(nodes: Array<{ id: string; data: GraphNodeData }>, edges: Array<{ id: string; source: string; target: string; label: string }>): { nodes: Node<GraphNodeData>[]; edges: Edge[] } {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: 30, ranksep: 70 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const e of edges) g.setEdge(e.source, e.target, {}, e.id);
  dagre.layout(g);
  return {
    nodes: nodes.map((n) => {
      const p = g.node(n.id);
      // dagre gives centres; React Flow places by the top-left corner.
      return { id: n.id, type: 'knit', data: n.data, position: { x: p.x - NODE_WIDTH / 2, y: p.y - NODE_HEIGHT / 2 }, width: NODE_WIDTH, height: NODE_HEIGHT };
    }),
    edges: edges.map((e) => ({ id: e.id, source: e.source, target: e.target, label: e.label, type: 'knit' })),
  };
}
