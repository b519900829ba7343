export { KnitClient, type DataFindQuery, type TagChangeRequest, type PullResult, type Progress } from './knit-client.js';
export type { Connection } from './http.js';
export { KnitError } from '../core/errors/knit-error.js';
export type { DataDetail } from '../core/data/model.js';
export type { PlanDetail, ApplyResult, PlanPreview } from '../core/plan/model.js';
export type { RunDetail } from '../core/run/model.js';
export type { RunStatus } from '../core/run/status.js';
export type { Lineage, LineageNode, LineageEdge } from '../core/lineage/graph.js';
export { runWorkflowId, stopSignal, type RunArgs, type RunResult } from '../workflows/definitions.js';
