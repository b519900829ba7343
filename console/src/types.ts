// The API's shapes come from the zod schemas in core/ (one source): types only, so no server
// code reaches the bundle. RunStatus is the one runtime value, for the status filter.
export type { DataDetail } from '../../core/data/model.js';
export type { RunDetail } from '../../core/run/model.js';
export type { RunEvent } from '../../core/run/events.js';
export type { PlanDetail } from '../../core/plan/model.js';
export type { Lineage, LineageNode, LineageEdge } from '../../core/lineage/graph.js';
export type { FeedEdge } from '../../core/plan/graph.js';
export { RunStatus, TERMINAL } from '../../core/run/status.js';

/** `GET /api/lineage/plans/{id}` and `GET /api/plans/graph` (api/services/plans.ts planGraph). */
export interface PlanGraph {
  plans: Array<{ id: string; image: string; active: boolean }>;
  edges: import('../../core/plan/graph.js').FeedEdge[];
}
