import { attemptActivities, type AttemptDeps } from './attempt.js';
import { hookActivities } from './hooks.js';
import { reconcileActivities, type ReconcileDeps } from './reconcile.js';

export type ActivityDeps = AttemptDeps & ReconcileDeps & { config: AttemptDeps['config'] & ReconcileDeps['config'] };

/** Every activity, bound to its dependencies: plain async functions, each testable on its own. */
export function createActivities(deps: ActivityDeps) {
  return { ...reconcileActivities(deps), ...attemptActivities(deps), ...hookActivities(deps) };
}

export type KnitActivities = ReturnType<typeof createActivities>;
