import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { z } from 'zod';
import { formatTag, normalizeTags, SelectorTag, UserTag, type Tag } from '../tags/tag.js';
import { LIMITS } from '../limits/limits.js';
import { bounded } from '../validation/query.js';
import { resourceValueProblem } from './resource-bounds.js';

/**
 * A Plan as users write it (YAML or JSON), field for field compatible with Knitfab's plan files.
 * Parsing yields normalized values; every error names its field path (`inputs[1].path`).
 */

// Paths the container runtime owns; mounting over them breaks the container.
const RUNTIME_PATHS = ['/proc', '/sys', '/dev'];

/** A Kubernetes ServiceAccount name (a DNS subdomain), which a run's Pod is given. */
export const ServiceAccountName = z
  .string()
  .max(253, 'must be at most 253 characters')
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a Kubernetes service account name: lowercase letters, digits, - and .');

const MountPath = z.string().superRefine((p, ctx) => {
  if (!p.startsWith('/')) return void ctx.addIssue({ code: 'custom', message: `must be absolute, got ${JSON.stringify(p)}` });
  if (p === '/') return void ctx.addIssue({ code: 'custom', message: 'cannot be the root directory' });
  if (posix.normalize(p) !== p || p.endsWith('/')) {
    return void ctx.addIssue({ code: 'custom', message: `must be a clean path (no '.', '..', '//' or trailing '/'), got ${JSON.stringify(p)}` });
  }
  // Kubernetes refuses a mountPath holding ':'; a plan must run on either executor.
  if (/[\p{Cc}]/u.test(p) || p.includes(':')) return void ctx.addIssue({ code: 'custom', message: `must not contain control characters or ':', got ${JSON.stringify(p)}` });
  const reserved = RUNTIME_PATHS.find((r) => p === r || p.startsWith(`${r}/`));
  if (reserved) ctx.addIssue({ code: 'custom', message: `${reserved} belongs to the container runtime; choose another path` });
});

const tagList = <T extends z.ZodType<Tag>>(item: T, max: number, what: string) => bounded(item, max, what).transform((tags) => normalizeTags(tags));
const selectorTags = () => tagList(SelectorTag, LIMITS.tagsPerSelector, 'tags per input');
// Output and log tags end up on Data, so they share its bound.
const dataTags = () => tagList(UserTag, LIMITS.tagsPerData, 'tags per output').default([]);

const Input = z
  .object({
    path: MountPath,
    tags: selectorTags().refine((t) => t.length > 0, 'an input needs at least one tag, or it would take every Data'),
  })
  .strict();

const Output = z.object({ path: MountPath, tags: dataTags() }).strict();

const Log = z
  .object({ tags: dataTags() })
  .strict()
  .nullable()
  .optional();

// The Docker reference grammar (distribution/reference): the first component is a registry host
// only when it contains '.' or ':' or is 'localhost'; hosts are DNS names, so case-insensitive and
// uppercase is allowed there. Every other component is a repository path, lowercase only: Docker
// itself refuses `MyOrg/trainer:1`, and accepting it here would only fail later, at pull time.
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::\d+)?$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const NAME_MAX_LENGTH = 255;

function isImageName(name: string): boolean {
  if (name.length > NAME_MAX_LENGTH) return false;
  const parts = name.split('/');
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (!DOMAIN.test(first)) return false;
    parts.shift();
  }
  return parts.length > 0 && parts.every((p) => PATH_COMPONENT.test(p));
}

export const ImageRef = z.string().superRefine((image, ctx) => {
  const at = image.indexOf('@');
  const named = at >= 0 ? image.slice(0, at) : image;
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const slash = named.lastIndexOf('/');
  const colon = named.lastIndexOf(':');
  const tag = colon > slash ? named.slice(colon + 1) : undefined;
  const name = colon > slash ? named.slice(0, colon) : named;
  if (!isImageName(name)) {
    return void ctx.addIssue({ code: 'custom', message: `${JSON.stringify(image)} is not an image name: repository components are lowercase letters, digits and separators; only a registry host (with '.' or ':', or localhost) may have uppercase` });
  }
  if (tag !== undefined && !/^\w[\w.-]{0,127}$/.test(tag)) return void ctx.addIssue({ code: 'custom', message: `${JSON.stringify(tag)} is not a valid image tag` });
  if (digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(digest)) return void ctx.addIssue({ code: 'custom', message: `${JSON.stringify(digest)} is not a valid image digest` });
  if (tag === undefined && digest === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be NAME:TAG, got ${JSON.stringify(image)}; a tag is required so that runs are reproducible` });
  }
});

const command = () => bounded(z.string().max(LIMITS.commandArgLength, `must be at most ${LIMITS.commandArgLength} characters`), LIMITS.commandArgs, 'entries');

const KeyValue = z.string().regex(/^[^=\s][^=]*=.*$/, 'must be "key=value"');

const ResourceName = z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/, 'is not a resource name');

const Resources = z
  .record(ResourceName, z.union([z.string(), z.number()]).transform((v) => String(v).trim()))
  .superRefine((resources, ctx) => {
    // Checked per entry here, not in the value schema, because what is valid depends on the name.
    for (const [name, value] of Object.entries(resources)) {
      const problem = resourceValueProblem(name, value);
      if (problem) ctx.addIssue({ code: 'custom', path: [name], message: problem });
    }
  })
  .default({});

const OnNode = z
  .object({
    may: bounded(KeyValue, LIMITS.annotationsPerPlan, 'labels').default([]),
    prefer: bounded(KeyValue, LIMITS.annotationsPerPlan, 'labels').default([]),
    must: bounded(KeyValue, LIMITS.annotationsPerPlan, 'labels').default([]),
  })
  .strict()
  .default({ may: [], prefer: [], must: [] });

export const PlanSpec = z
  .object({
    image: ImageRef,
    entrypoint: command().optional(),
    args: command().optional(),
    inputs: bounded(Input, LIMITS.inputsPerPlan, 'inputs per plan').refine((a) => a.length > 0, 'a plan needs at least one input'),
    outputs: bounded(Output, LIMITS.outputsPerPlan, 'outputs per plan').default([]),
    log: Log,
    active: z.boolean().default(true),
    resources: Resources,
    on_node: OnNode,
    service_account: ServiceAccountName.nullable().optional(),
    annotations: bounded(KeyValue, LIMITS.annotationsPerPlan, 'annotations per plan').default([]),
    /**
     * knit's own field (Knitfab has none): whether the run's container may use the network.
     * Off by default, so a plan reaches nothing but its inputs and outputs unless it says so.
     */
    network: z.boolean().default(false),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const mounts = [
      ...spec.inputs.map((m, i) => ({ path: m.path, field: ['inputs', i, 'path'] as PropertyKey[] })),
      ...spec.outputs.map((m, i) => ({ path: m.path, field: ['outputs', i, 'path'] as PropertyKey[] })),
    ];
    for (let a = 0; a < mounts.length; a++) {
      for (let b = 0; b < a; b++) {
        const x = mounts[a]!;
        const y = mounts[b]!;
        if (x.path === y.path || x.path.startsWith(`${y.path}/`) || y.path.startsWith(`${x.path}/`)) {
          ctx.addIssue({ code: 'custom', path: x.field, message: `${x.path} overlaps ${fieldName(y.field)} (${y.path}); mount points must not nest` });
        }
      }
    }
  });
export type PlanSpec = z.output<typeof PlanSpec>;
export type PlanSpecInput = z.input<typeof PlanSpec>;

function fieldName(path: PropertyKey[]): string {
  return `${String(path[0])}[${String(path[1])}].${String(path[2])}`;
}

/**
 * Two plans are equivalent when they would do the same work on the same Data: same image,
 * command, input and output mount points with their tags, log tags and node placement.
 * What may change after applying (active, resources, annotations, service account) is left out.
 * Network access is part of the work: a run that may download can produce other outputs than one
 * that cannot, so a plan that differs only in it is a different plan. It enters the hash only
 * when on, so every plan applied before the field existed keeps its hash.
 */
export function specHash(spec: PlanSpec): string {
  const mounts = (ms: Array<{ path: string; tags: Tag[] }>) => [...ms].sort((a, b) => (a.path < b.path ? -1 : 1)).map((m) => [m.path, m.tags.map(formatTag)]);
  const canonical = {
    image: spec.image,
    entrypoint: spec.entrypoint ?? null,
    args: spec.args ?? null,
    inputs: mounts(spec.inputs),
    outputs: mounts(spec.outputs),
    log: spec.log ? spec.log.tags.map(formatTag) : null,
    on_node: { may: [...spec.on_node.may].sort(), prefer: [...spec.on_node.prefer].sort(), must: [...spec.on_node.must].sort() },
    ...(spec.network ? { network: true } : {}),
  };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}
