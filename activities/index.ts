import { attemptActivities, type AttemptDeps } from './attempt.js';
import { combinedAttemptSteps } from './combined-steps.js';
import { hookActivities } from './hooks.js';
import { reconcileActivities, type ReconcileDeps } from './reconcile.js';

export type ActivityDeps = AttemptDeps & ReconcileDeps & { config: AttemptDeps['config'] & ReconcileDeps['config'] };

type Steps = ReturnType<typeof reconcileActivities> & ReturnType<typeof attemptActivities> & ReturnType<typeof hookActivities>;

/**
 * Every activity, bound to its dependencies: plain async functions, each testable on its own.
 * `wrap` sees the single steps before they are grouped (combined-steps.ts), so what it adds to a
 * step (the crash tests' faults) happens inside the groups too.
 */
export function createActivities(deps: ActivityDeps, wrap: (steps: Steps) => Steps = (s) => s) {
  const steps = wrap({ ...reconcileActivities(deps), ...attemptActivities(deps), ...hookActivities(deps) });
  return { ...steps, ...combinedAttemptSteps(steps, deps.executor) };
}

export type KnitActivities = ReturnType<typeof createActivities>;
