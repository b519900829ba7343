import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineSignal } from '@temporalio/workflow';

/**
 * Names shared by the workflows and the code that starts and signals them (API, worker,
 * other services). Workflow ids are readable on purpose: `run-<runId>` is what a user looks up
 * in the Temporal UI.
 */
const RUN_PREFIX = 'run-';
export const runWorkflowId = (runId: string): string => `${RUN_PREFIX}${runId}`;
/** The run a `run` workflow id names; undefined for any other id. */
export const runIdOfWorkflow = (workflowId: string): string | undefined => (workflowId.startsWith(RUN_PREFIX) ? workflowId.slice(RUN_PREFIX.length) : undefined);
export const matcherWorkflowId = (instance: string): string => `${instance}-matcher`;

/** Wakes the matcher: something was written to the outbox. */
export const wakeSignal = defineSignal('wake');
/** Asks a run to stop: `stop` keeps what it wrote as done, `fail` aborts it. */
export const stopSignal = defineSignal<['stop' | 'fail']>('stop');

export const PLAN_ID = defineSearchAttributeKey('KnitPlanId', SearchAttributeType.KEYWORD);
export const RUN_STATUS = defineSearchAttributeKey('KnitRunStatus', SearchAttributeType.KEYWORD);
export const SEARCH_ATTRIBUTES = [PLAN_ID, RUN_STATUS];

export interface RunArgs {
  runId: string;
  /**
   * Set when an earlier execution was closed from outside (terminated, timed out, cancelled
   * before it began) while the run was in flight: this one only finishes the run as failed,
   * saying so (e.g. "terminated").
   */
  abandoned?: string;
}

export interface RunResult {
  runId: string;
  /** Set when the workflow found nothing to do (the run was inactive or already finished). */
  skipped?: string;
  status?: 'done' | 'failed';
  exitCode?: number | null;
  message?: string | null;
}

export interface MatcherArgs {
  /** The highest outbox sequence number handled so far. */
  cursor: number;
  /** The reconcile activity's heartbeat timeout, as the last worker configured it; carried across continue-as-new. */
  heartbeatTimeout?: string;
}
