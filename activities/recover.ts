import type { Client } from '@temporalio/client';
import type { Pool } from '../core/db/pool.js';
import { IN_FLIGHT } from '../core/run/status.js';
import { runIdOfWorkflow, runWorkflowId, type RunArgs } from '../workflows/definitions.js';

/** A run whose workflow closed while the run was still in flight, and what becomes of it. */
export interface ClosedRun {
  runId: string;
  planId: string;
  /** How its workflow closed, as Temporal names it. */
  closedAs: string;
  /** The arguments of the new execution that finishes it. */
  args: RunArgs;
}

/**
 * How a workflow can close without finishing its run: its status as the client names it, as
 * visibility queries name it, and, when it was an operator's doing, the word the run's failure
 * uses. A cancelled run workflow normally finishes its run itself; one cancelled before its first
 * step could not, and is found here like a terminated one. A failed one is resumed.
 */
const CLOSED_UNFINISHED: Record<string, { query: string; abandoned?: string }> = {
  TERMINATED: { query: 'Terminated', abandoned: 'terminated' },
  TIMED_OUT: { query: 'TimedOut', abandoned: 'timed out' },
  CANCELLED: { query: 'Canceled', abandoned: 'cancelled' },
  FAILED: { query: 'Failed' },
};
/** How far back to look; older leftovers were found by earlier sweeps. */
const LOOKBACK_MS = 7 * 24 * 3600_000;

/**
 * Finds runs whose workflow closed without finishing them, so that none stays in flight
 * forever. A workflow terminated, timed out or cancelled by an operator means "stop it": the run
 * is finished as failed. One that failed (an error that outlasted its retries, e.g. a long outage)
 * is resumed. Temporal's visibility finds the candidates; the database says which runs are
 * really still in flight, and describe() skips those already given a new execution.
 */
export async function findClosedRuns(deps: { pool: Pool; client: Client; taskQueue: string }, now = new Date()): Promise<ClosedRun[]> {
  const since = new Date(now.getTime() - LOOKBACK_MS).toISOString();
  const query = [
    `WorkflowType = 'run'`,
    `TaskQueue = '${deps.taskQueue}'`,
    `ExecutionStatus IN (${Object.values(CLOSED_UNFINISHED).map((s) => `'${s.query}'`).join(', ')})`,
    `CloseTime > '${since}'`,
  ].join(' AND ');
  const closed = new Set<string>();
  for await (const w of deps.client.workflow.list({ query })) {
    const runId = runIdOfWorkflow(w.workflowId);
    if (runId) closed.add(runId);
  }
  if (closed.size === 0) return [];

  const r = await deps.pool.query<{ id: string; plan_id: string }>(
    `SELECT id, plan_id FROM run WHERE id = ANY($1::uuid[]) AND (status = ANY($2) OR (status = 'waiting' AND workflow_started))`,
    [[...closed], IN_FLIGHT],
  );
  const found: ClosedRun[] = [];
  for (const run of r.rows) {
    // The newest execution decides: it may already be the one that finishes the run.
    const latest = await deps.client.workflow.getHandle(runWorkflowId(run.id)).describe();
    const closedAs = latest.status.name;
    const how = CLOSED_UNFINISHED[closedAs];
    if (!how) continue;
    const abandoned = how.abandoned;
    found.push({ runId: run.id, planId: run.plan_id, closedAs, args: abandoned ? { runId: run.id, abandoned } : { runId: run.id } });
  }
  return found;
}
