import { BaseEdge, Controls, EdgeLabelRenderer, getBezierPath, Handle, MarkerType, MiniMap, Position, ReactFlow, type EdgeProps, type NodeProps, type Node } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { getJson } from '../api.js';
import { layout, type GraphNodeData } from '../graph.js';
import { navigate } from '../routes.js';
import type { Lineage, PlanGraph } from '../types.js';
import { Link, short, Status, useLoad } from '../ui.js';

// Stable test ids: node-<id> and edge-<from>-<to> (test/console/console.test.ts checks them).
function KnitNode({ id, data }: NodeProps<Node<GraphNodeData>>) {
  return (
    <div className={`graph-node ${data.kind}${data.root ? ' root' : ''}${data.href ? ' clickable' : ''}`} data-testid={`node-${id}`} data-kind={data.kind}>
      <Handle type="target" position={Position.Left} />
      <div className="title">{data.title}</div>
      <div className="subtitle">{data.subtitle}</div>
      <Handle type="source" position={Position.Right} />
    </div>
  );
}

function KnitEdge(props: EdgeProps) {
  const [path, labelX, labelY] = getBezierPath(props);
  return (
    <g data-testid={`edge-${props.source}-${props.target}`}>
      <BaseEdge id={props.id} path={path} markerEnd={props.markerEnd} />
      {props.label && (
        <EdgeLabelRenderer>
          <div className="edge-label" style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}>
            {props.label}
          </div>
        </EdgeLabelRenderer>
      )}
    </g>
  );
}

const nodeTypes = { knit: KnitNode };
const edgeTypes = { knit: KnitEdge };

function Graph({ graph }: { graph: ReturnType<typeof layout> }) {
  return (
    <div className="graph" data-testid="graph">
      <ReactFlow
        nodes={graph.nodes}
        edges={graph.edges.map((e) => ({ ...e, markerEnd: { type: MarkerType.ArrowClosed } }))}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        fitView
        minZoom={0.1}
        nodesDraggable={false}
        nodesConnectable={false}
        onNodeClick={(_e, n) => n.data.href && navigate(n.data.href)}
        proOptions={{ hideAttribution: true }}
      >
        <Controls showInteractive={false} />
        <MiniMap pannable zoomable />
      </ReactFlow>
    </div>
  );
}

/** Every generation up and down from a Data: Data, runs, and uploads as the roots. */
export function DataLineageView({ id }: { id: string }) {
  const state = useLoad((signal) => getJson<Lineage>(`lineage/data/${encodeURIComponent(id)}`, { up: 'all', down: 'all' }, signal), [id]);
  return (
    <section>
      <h2>
        Lineage of Data <Link to={`/data/${id}`}>{short(id)}</Link>
      </h2>
      <Status state={state}>
        {(l) => (
          <>
            {l.truncated && <p className="error">{l.truncated.message}</p>}
            <Graph graph={lineageGraph(l)} />
          </>
        )}
      </Status>
    </section>
  );
}

function lineageGraph(l: Lineage) {
  return layout(
    l.nodes.map((n) => ({
      id: n.id,
      data:
        n.kind === 'data'
          ? { kind: 'data' as const, title: `data ${short(n.id)}`, subtitle: n.transient ? `(${n.transient}) ${userTags(n.tags)}` : userTags(n.tags), href: `/data/${n.id}`, root: n.id === l.root }
          : n.upload
            ? { kind: 'upload' as const, title: 'upload', subtitle: '', href: null, root: false }
            : { kind: 'run' as const, title: `run ${short(n.id)} · ${n.status}`, subtitle: n.image ?? '', href: `/runs/${n.id}`, root: false },
    })),
    l.edges.map((e) => ({ id: `${e.from}>${e.to}>${e.label}`, source: e.from, target: e.to, label: e.label })),
  );
}

const userTags = (tags: string[]) => tags.filter((t) => !t.startsWith('knit#')).join(' ');

/** Which plans feed which, around one plan. */
export function PlanGraphView({ id }: { id: string }) {
  const state = useLoad((signal) => getJson<PlanGraph>(`lineage/plans/${encodeURIComponent(id)}`, { up: 'all', down: 'all' }, signal), [id]);
  return (
    <section>
      <h2>
        Plans around <Link to={`/plans/${id}`}>{short(id)}</Link>
      </h2>
      <Status state={state}>
        {(g) => (
          <Graph
            graph={layout(
              g.plans.map((p) => ({ id: p.id, data: { kind: 'plan' as const, title: `plan ${short(p.id)}${p.active ? '' : ' (inactive)'}`, subtitle: p.image, href: `/plans/${p.id}`, root: p.id.startsWith(id) } })),
              g.edges.map((e) => ({ id: `${e.from}>${e.to}>${e.output}>${e.input}`, source: e.from, target: e.to, label: `${e.output} → ${e.input}` })),
            )}
          />
        )}
      </Status>
    </section>
  );
}
