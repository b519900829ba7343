import { z } from 'zod';
import { conflict } from '../errors/knit-error.js';

/**
 * The life of a Run, as one transition table. Every status change in the code goes through
 * `assertTransition` (and the SQL guards derived from the same table), so an illegal change is
 * refused the same way everywhere.
 *
 *   deactivated  created while its plan is inactive; waits for reactivation
 *   waiting      created, its workflow not yet begun
 *   ready        picked up by its workflow, about to stage inputs
 *   starting     inputs staged, container being created and started
 *   running      container running
 *   completing   container exited 0 (or was stopped by the user): outputs are being stored
 *   aborting     container failed (or was aborted by the user): outputs kept as failed
 *   done, failed the end of an attempt; `retry` starts a new one from waiting
 *   invalidated  removed by the user; its outputs are gone
 */
export const RunStatus = z.enum(['deactivated', 'waiting', 'ready', 'starting', 'running', 'completing', 'aborting', 'done', 'failed', 'invalidated']);
export type RunStatus = z.infer<typeof RunStatus>;

export const TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  deactivated: ['waiting', 'invalidated'],
  waiting: ['deactivated', 'ready', 'aborting'],
  ready: ['starting', 'aborting'],
  starting: ['running', 'aborting'],
  running: ['completing', 'aborting'],
  completing: ['done', 'aborting'],
  aborting: ['failed'],
  done: ['waiting', 'invalidated'],
  failed: ['waiting', 'invalidated'],
  invalidated: [],
};

export const TERMINAL: readonly RunStatus[] = ['done', 'failed', 'invalidated'];
/** Statuses in which a run's workflow is working on it. */
export const IN_FLIGHT: readonly RunStatus[] = ['ready', 'starting', 'running', 'completing', 'aborting'];

export function canTransition(from: RunStatus, to: RunStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The statuses from which `to` may be entered: the WHERE guard of a status UPDATE. */
export function sourcesOf(to: RunStatus): RunStatus[] {
  return RunStatus.options.filter((from) => canTransition(from, to));
}

export function assertTransition(runId: string, from: RunStatus, to: RunStatus): void {
  if (!canTransition(from, to)) {
    throw conflict(`run ${runId} is ${from}; it cannot become ${to}`, { runId, from, to, allowed: TRANSITIONS[from] });
  }
}

export function isTerminal(s: RunStatus): boolean {
  return TERMINAL.includes(s);
}
