import { z } from 'zod';
import type { Queryable } from '../db/pool.js';
import { getPlan } from '../plan/db.js';
import type { PlanRecord } from '../plan/model.js';
import type { RunDetail } from '../run/model.js';
import { getRun } from '../run/store.js';
import { formatTag } from '../tags/tag.js';

/**
 * A run as Knitfab v1.6.1 shows it (docs/knitfab-compat.md 3.5, 3.6). One place for both users
 * of the shape: the Knitfab API (api/knitfab) answers it, and the worker posts it to the
 * lifecycle hooks (activities/hooks.ts), which must not depend on the API.
 */
export const KfPlanSummary = z.object({
  planId: z.string(),
  image: z.string().optional(),
  name: z.string().optional(),
});

export const KfRunSummary = z.object({
  runId: z.string(),
  status: z.string(),
  updatedAt: z.string(),
  plan: KfPlanSummary,
});

export const KfMountpoint = z.object({ path: z.string(), tags: z.array(z.string()) });

const KfAssignment = KfMountpoint.extend({ knitId: z.string() });
export const KfRunDetail = KfRunSummary.extend({
  exit: z.object({ code: z.number().int().min(0).max(255), message: z.string() }).optional(),
  inputs: z.array(KfAssignment),
  outputs: z.array(KfAssignment),
  log: z.object({ tags: z.array(z.string()), knitId: z.string() }).nullable(),
});
export type KfRunDetail = z.infer<typeof KfRunDetail>;

/** A run as Knitfab summarises it wherever another object names it. */
export function kfRunSummary(r: RunDetail) {
  return { runId: r.id, status: r.status, updatedAt: r.updatedAt, plan: { planId: r.plan.id, image: r.plan.image } };
}

/** The tags a plan gives the mount at `path`, as Knitfab shows them on a link to it; none if it has no such mount. */
export function mountTags(mounts: PlanRecord['inputs'] | undefined, path: string): string[] {
  return (mounts?.find((m) => m.path === path)?.tags ?? []).map(formatTag);
}

/** A run in Knitfab's shape: each mount with its plan's path and tags, exit code and message once it has ended. */
export async function kfRun(q: Queryable, r: RunDetail, plans: Map<string, PlanRecord | undefined>): Promise<KfRunDetail> {
  if (!plans.has(r.plan.id)) plans.set(r.plan.id, await getPlan(q, r.plan.id));
  const plan = plans.get(r.plan.id);
  return {
    ...kfRunSummary(r),
    ...(r.exitCode !== null ? { exit: { code: r.exitCode & 0xff, message: r.message ?? '' } } : {}),
    inputs: r.inputs.map((i) => ({ path: i.path, tags: mountTags(plan?.inputs, i.path), knitId: i.dataId })),
    outputs: r.outputs.filter((o) => o.dataId !== null).map((o) => ({ path: o.path, tags: mountTags(plan?.outputs, o.path), knitId: o.dataId! })),
    log: r.log.dataId !== null ? { tags: (plan?.logTags ?? []).map(formatTag), knitId: r.log.dataId } : null,
  };
}

/** The run `id` in Knitfab's shape, as it is now; undefined if there is no such run. */
export async function kfRunById(q: Queryable, id: string): Promise<KfRunDetail | undefined> {
  const r = await getRun(q, id);
  return r ? kfRun(q, r, new Map()) : undefined;
}
