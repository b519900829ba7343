import { z } from 'zod';
import { formatTag, type Tag } from '../tags/tag.js';
import { LIMITS } from '../limits/limits.js';
import { bounded } from '../validation/query.js';
import { ServiceAccountName, type PlanSpec } from './spec.js';

const Mount = z.object({ path: z.string(), tags: z.array(z.string()) });

/**
 * One plan feeding another: `output` (a path, or "log") of the producing plan has tags that
 * `input` (a path) of the consuming plan selects. `planId` and `image` are the other plan's.
 */
export const PlanLink = z.object({ planId: z.string(), image: z.string(), output: z.string(), input: z.string() });
export type PlanLink = z.infer<typeof PlanLink>;

/** A plan's neighbours: the plans that feed its inputs, and those its outputs and log feed. */
export const PlanLinks = z.object({
  /** Plans whose outputs (or log) this plan's inputs take, as Knitfab's plan shows on each input. */
  upstreams: z.array(PlanLink),
  /** Plans whose inputs take this plan's outputs (or log). */
  downstreams: z.array(PlanLink),
});
export type PlanLinks = z.infer<typeof PlanLinks>;

/** A Plan as the API returns it: its id, and its spec in the same field names as plan files. */
export const PlanDetail = z.object({
  id: z.string(),
  createdAt: z.string(),
  image: z.string(),
  entrypoint: z.array(z.string()).nullable(),
  args: z.array(z.string()).nullable(),
  inputs: z.array(Mount),
  outputs: z.array(Mount),
  log: z.object({ tags: z.array(z.string()) }).nullable(),
  active: z.boolean(),
  resources: z.record(z.string(), z.string()),
  on_node: z.object({ may: z.array(z.string()), prefer: z.array(z.string()), must: z.array(z.string()) }),
  service_account: z.string().nullable(),
  annotations: z.array(z.string()),
  /**
   * Set while creating this plan's runs fails (too many at once, a timeout, an error): its runs
   * may be missing until a later pass succeeds. Other plans are not held up.
   */
  matchError: z.object({ message: z.string(), failedAt: z.string(), failures: z.number().int(), retryAt: z.string() }).nullable(),
  /** knit's extension: whether runs may use the network (Knitfab has no such field). */
  network: z.boolean(),
  ...PlanLinks.shape,
});
export type PlanDetail = z.infer<typeof PlanDetail>;

export interface PlanRecord {
  id: string;
  createdAt: Date;
  image: string;
  entrypoint: string[] | null;
  args: string[] | null;
  inputs: Array<{ path: string; tags: Tag[] }>;
  outputs: Array<{ path: string; tags: Tag[] }>;
  logTags: Tag[] | null;
  active: boolean;
  resources: Record<string, string>;
  onNode: PlanSpec['on_node'];
  serviceAccount: string | null;
  annotations: string[];
  matchError: { message: string; failedAt: Date; failures: number; retryAt: Date } | null;
  network: boolean;
}

/** The plan as the API returns it, with its neighbours (api/services/plans.ts: planLinks). */
export function toPlanDetail(p: PlanRecord, links: PlanLinks): PlanDetail {
  const mount = (m: { path: string; tags: Tag[] }) => ({ path: m.path, tags: m.tags.map(formatTag) });
  return {
    id: p.id,
    createdAt: p.createdAt.toISOString(),
    image: p.image,
    entrypoint: p.entrypoint,
    args: p.args,
    inputs: p.inputs.map(mount),
    outputs: p.outputs.map(mount),
    log: p.logTags === null ? null : { tags: p.logTags.map(formatTag) },
    active: p.active,
    resources: p.resources,
    on_node: p.onNode,
    service_account: p.serviceAccount,
    annotations: p.annotations,
    matchError: p.matchError === null ? null : { ...p.matchError, failedAt: p.matchError.failedAt.toISOString(), retryAt: p.matchError.retryAt.toISOString() },
    network: p.network,
    upstreams: links.upstreams,
    downstreams: links.downstreams,
  };
}

/** What `apply --dry-run` reports: the runs the plan would create, and from which Data. */
export const PlanPreview = z.object({
  runs: z.number().int().nonnegative(),
  inputs: z.array(z.object({ path: z.string(), tags: z.array(z.string()), dataIds: z.array(z.string()) })),
});
export type PlanPreview = z.infer<typeof PlanPreview>;

export const ApplyResult = z.object({
  plan: PlanDetail.nullable(),
  preview: PlanPreview,
  dryRun: z.boolean(),
});
export type ApplyResult = z.infer<typeof ApplyResult>;

export const ResourceChange = z
  .object({
    set: z.record(z.string(), z.union([z.string(), z.number()])).default({}),
    unset: z.array(z.string()).default([]),
  })
  .strict();

/** `PUT /api/plans/{id}/serviceaccount`: a name, or null to unset it. */
export const ServiceAccountChange = z.object({ serviceAccount: ServiceAccountName.nullable() }).strict();

export const AnnotationChange = z
  .object({
    add: bounded(z.string().regex(/^[^=\s][^=]*=.*$/, 'must be "key=value"'), LIMITS.annotationsPerPlan, 'annotations per plan').default([]),
    remove: bounded(z.string(), LIMITS.annotationsPerPlan, 'annotations per change').default([]),
    // A key alone: what comes before '=' in an annotation, so never '=' or a control character.
    removeKey: bounded(z.string().regex(/^[^=\p{Cc}\u2028\u2029]+$/u, 'must be an annotation key: no "=" and no control characters'), LIMITS.annotationsPerPlan, 'keys per change').default([]),
  })
  .strict();

export const ActiveChange = z.object({ active: z.boolean() }).strict();
