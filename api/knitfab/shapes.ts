import { z } from 'zod';
import { KfMountpoint, KfPlanSummary, KfRunSummary } from '../../core/knitfab/run-detail.js';

/**
 * Knitfab v1.6.1's JSON, as its CLI reads it (docs/knitfab-compat.md, section 3). One source for
 * the TypeScript types of the compatibility routes and for their tests' checks. The run shapes
 * are the lifecycle hooks' body too, so they live in core/knitfab/run-detail.ts.
 */
export { KfMountpoint, KfPlanSummary, KfRunDetail, KfRunSummary } from '../../core/knitfab/run-detail.js';

export const KfDataDetail = z.object({
  knitId: z.string(),
  tags: z.array(z.string()),
  upstream: z.object({
    run: KfRunSummary,
    mountpoint: KfMountpoint.optional(),
    log: z.object({ tags: z.array(z.string()) }).optional(),
  }),
  downstreams: z.array(z.object({ mountpoint: KfMountpoint, run: KfRunSummary })),
  nomination: z.array(z.object({ path: z.string(), tags: z.array(z.string()), plan: KfPlanSummary })),
});
export type KfDataDetail = z.infer<typeof KfDataDetail>;

/**
 * A tag in a request body: `{key, value}` as the CLI sends it, or the `key:value` string; read as
 * the `key:value` string knit's own tag change takes (which then checks it as a user tag).
 */
const KfTagIn = z.union([
  z
    .object({ key: z.string(), value: z.string() })
    .strict()
    .transform((t) => `${t.key.trim()}:${t.value.trim()}`),
  z.string(),
]);

/** `PUT /data/{knitId}`: Knitfab's tag change, with `null` for an empty list. */
export const KfTagChange = z
  .object({
    add: z.array(KfTagIn).nullish(),
    remove: z.array(KfTagIn).nullish(),
    remove_key: z.array(z.string()).nullish(),
  })
  .strict();

const KfUpstream = z.object({ plan: KfPlanSummary, mountpoint: KfMountpoint.optional(), log: z.object({ tags: z.array(z.string()) }).optional() });
const KfDownstream = z.object({ plan: KfPlanSummary, mountpoint: KfMountpoint });

export const KfPlanDetail = KfPlanSummary.extend({
  entrypoint: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  annotations: z.array(z.string()).optional(),
  inputs: z.array(KfMountpoint.extend({ upstreams: z.array(KfUpstream) })),
  outputs: z.array(KfMountpoint.extend({ downstreams: z.array(KfDownstream) })),
  log: z.object({ tags: z.array(z.string()), downstreams: z.array(KfDownstream) }).optional(),
  active: z.boolean(),
  on_node: z.object({ may: z.array(z.string()).optional(), prefer: z.array(z.string()).optional(), must: z.array(z.string()).optional() }).optional(),
  resources: z.record(z.string(), z.string()).optional(),
  service_account: z.string().optional(),
});
export type KfPlanDetail = z.infer<typeof KfPlanDetail>;
