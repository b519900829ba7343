import { stringify } from 'yaml';
import type { PlanDetail } from './model.js';

/**
 * A plan as the plan file it came from: the spec's fields only (no id, times or neighbours), so
 * the text applies again as it is. Shared by `knit plan show` and `GET /api/plans/:id?format=yaml`.
 */
export function planFileYaml(p: PlanDetail): string {
  const { id: _id, createdAt: _createdAt, matchError: _matchError, upstreams: _up, downstreams: _down, image, entrypoint, args, ...rest } = p;
  // A plan file has no null entrypoint or args (apply refuses one): absent means the image's own.
  const spec = { image, ...(entrypoint !== null ? { entrypoint } : {}), ...(args !== null ? { args } : {}), ...rest };
  return stringify(spec);
}
