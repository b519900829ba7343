import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { abortableQueries } from '../../core/db/abortable.js';
import type { Queryable } from '../../core/db/pool.js';
import { badRequest, notFound } from '../../core/errors/knit-error.js';
import { findPlans, getPlan, shapeOf } from '../../core/plan/db.js';
import { feedEdges, type FeedEdge } from '../../core/plan/graph.js';
import type { PlanRecord } from '../../core/plan/model.js';
import { PlanSpec, ServiceAccountName } from '../../core/plan/spec.js';
import { formatTag, type Tag } from '../../core/tags/tag.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import { clientGone } from '../client-gone.js';
import { idParam } from '../ids.js';
import type { ApiDeps } from '../server.js';
import { applyPlan, changePlanAnnotations, changePlanResources, neighbourEdges, planNeighbourhood, setActive, setPlanServiceAccount, type PlanNeighbourhood } from '../services/plans.js';
import { mountTags } from '../../core/knitfab/run-detail.js';
import type { KfPlanDetail } from './shapes.js';

/**
 * What Knitfab gives a plan that names no CPU or memory: stored and shown, so a plan applied
 * through Knitfab's CLI asks for what it would on Knitfab (and knit's bounds still apply).
 */
const KNITFAB_DEFAULT_RESOURCES = { cpu: '1', memory: '1Gi' };

const list = z.union([z.string(), z.array(z.string())]).optional().transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]));
const KfPlanQuery = z
  .object({
    active: z.enum(['true', 'false'], { error: 'must be true or false' }).optional(),
    image: z.string().optional(),
    in_tag: list,
    out_tag: list,
  })
  .strict();

const KfResourceChange = z.object({ set: z.record(z.string(), z.union([z.string(), z.number()])).nullish(), unset: z.array(z.string()).nullish() }).strict();
const KfAnnotationChange = z.object({ add: z.array(z.string()).nullish(), remove: z.array(z.string()).nullish(), remove_key: z.array(z.string()).nullish() }).strict();
const KfServiceAccountChange = z.object({ service_account: ServiceAccountName }).strict();

const planId = (params: unknown) => idParam({ id: (params as { planId?: string }).planId }, 'plan');

/** Knitfab's plan routes (docs/knitfab-compat.md 4.5 to 4.8) over knit's plans. */
export function registerKnitfabPlanRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/plans', async (req, reply) => {
    const body = { ...((req.body ?? {}) as Record<string, unknown>) };
    // Knitfab's CLI sends `active: null` for a plan file without `active`: it means true.
    if (body['active'] === null) delete body['active'];
    const resources = { ...KNITFAB_DEFAULT_RESOURCES, ...((body['resources'] as Record<string, string> | undefined) ?? {}) };
    const spec = parseOrThrow(PlanSpec, { ...body, resources });
    const queries = abortableQueries(deps.pool, clientGone(reply));
    // The run cap holds here too: Knitfab's CLI cannot say --yes, and a fan-out of thousands of
    // runs by accident costs more than applying once more with knit's CLI (or a higher cap).
    const result = await applyPlan(deps, spec, { dryRun: false, yes: false, queries });
    return kfPlanDetail(queries, (await getPlan(queries, result.plan!.id))!);
  });

  app.get('/plans', { config: { takesQuery: true } }, async (req, reply) => {
    const q = parseOrThrow(KfPlanQuery, req.query);
    const queries = abortableQueries(deps.pool, clientGone(reply));
    // `NAME:` (an empty tag), which Knitfab's CLI always sends for --image NAME, means any tag.
    const image = q.image === undefined || q.image === '' ? undefined : q.image.endsWith(':') ? q.image.slice(0, -1) : q.image;
    const plans = await findPlans(queries, {
      ...(q.active !== undefined ? { active: q.active === 'true' } : {}),
      ...(image !== undefined ? { image } : {}),
      inTags: q.in_tag.map((t) => parseTagParam(t, 'in_tag')),
      outTags: q.out_tag.map((t) => parseTagParam(t, 'out_tag')),
    });
    const context = await planNeighbourhood(queries);
    return plans.sort((a, b) => a.id.localeCompare(b.id)).map((p) => toKf(p, context));
  });

  app.get('/plans/:planId', async (req, reply) => {
    const id = planId(req.params);
    const queries = abortableQueries(deps.pool, clientGone(reply));
    const plan = await getPlan(queries, id);
    if (!plan) throw notFound('plan', id);
    return kfPlanDetail(queries, plan);
  });

  app.put('/plans/:planId/active', async (req) => {
    const plan = await setActive(deps, planId(req.params), true);
    return kfPlanDetail(deps.pool, plan);
  });

  app.delete('/plans/:planId/active', async (req) => {
    const plan = await setActive(deps, planId(req.params), false);
    return kfPlanDetail(deps.pool, plan);
  });

  app.put('/plans/:planId/resources', async (req) => {
    const body = parseOrThrow(KfResourceChange, req.body ?? {});
    const set: Record<string, string | number> = { ...(body.set ?? {}) };
    // Set wins over unset for the same type, and an unset cpu or memory falls back to Knitfab's default.
    const unset = (body.unset ?? []).filter((k) => !(k in set));
    for (const [k, v] of Object.entries(KNITFAB_DEFAULT_RESOURCES)) if (unset.includes(k)) set[k] = v;
    const plan = await changePlanResources(deps, planId(req.params), { set, unset: unset.filter((k) => !(k in KNITFAB_DEFAULT_RESOURCES)) });
    return kfPlanDetail(deps.pool, plan);
  });

  app.put('/plans/:planId/annotations', async (req) => {
    const body = parseOrThrow(KfAnnotationChange, req.body ?? {});
    const plan = await changePlanAnnotations(deps, planId(req.params), { add: body.add ?? [], remove: body.remove ?? [], removeKey: body.remove_key ?? [] });
    return kfPlanDetail(deps.pool, plan);
  });

  app.put('/plans/:planId/serviceaccount', async (req) => {
    const body = parseOrThrow(KfServiceAccountChange, req.body ?? {});
    return kfPlanDetail(deps.pool, await setPlanServiceAccount(deps, planId(req.params), body.service_account));
  });

  app.delete('/plans/:planId/serviceaccount', async (req) => kfPlanDetail(deps.pool, await setPlanServiceAccount(deps, planId(req.params), null)));
}

function parseTagParam(s: string, field: string): Tag {
  const at = s.indexOf(':');
  if (at <= 0) throw badRequest(field, `must be KEY:VALUE, got ${JSON.stringify(s)}`);
  return { key: s.slice(0, at), value: s.slice(at + 1) };
}

async function kfPlanDetail(q: Queryable, p: PlanRecord): Promise<KfPlanDetail> {
  return toKf(p, await planNeighbourhood(q));
}

const tagStrings = (tags: readonly Tag[]) => tags.map(formatTag);

function summary(p: PlanRecord) {
  return {
    planId: p.id,
    image: p.image,
    ...(p.entrypoint?.length ? { entrypoint: p.entrypoint } : {}),
    ...(p.args?.length ? { args: p.args } : {}),
    ...(p.annotations.length ? { annotations: [...p.annotations].sort() } : {}),
  };
}

function toKf(p: PlanRecord, ctx: PlanNeighbourhood): KfPlanDetail {
  const mountOf = (plan: PlanRecord, path: string, side: 'in' | 'out') => ({ path, tags: mountTags(side === 'in' ? plan.inputs : plan.outputs, path) });
  // The same neighbours knit's own plan JSON lists (api/services/plans.ts), shown per mount.
  const links = neighbourEdges(ctx, p.id);
  const downstreamsOf = (output: string) =>
    links.downstreams.filter((e) => e.output === output).map((e) => ({ plan: summary(e.plan), mountpoint: mountOf(e.plan, e.input, 'in') }));
  const onNode = Object.fromEntries(Object.entries(p.onNode ?? {}).filter(([, v]) => Array.isArray(v) && v.length > 0));
  return {
    ...summary(p),
    inputs: p.inputs.map((i) => ({
      path: i.path,
      tags: tagStrings(i.tags),
      upstreams: links.upstreams
        .filter((e) => e.input === i.path)
        .map((e) => (e.output === 'log' ? { plan: summary(e.plan), log: { tags: tagStrings(e.plan.logTags ?? []) } } : { plan: summary(e.plan), mountpoint: mountOf(e.plan, e.output, 'out') })),
    })),
    outputs: p.outputs.map((o) => ({ path: o.path, tags: tagStrings(o.tags), downstreams: downstreamsOf(o.path) })),
    ...(p.logTags !== null ? { log: { tags: tagStrings(p.logTags), downstreams: downstreamsOf('log') } } : {}),
    active: p.active,
    ...(Object.keys(onNode).length > 0 ? { on_node: onNode } : {}),
    ...(Object.keys(p.resources).length > 0 ? { resources: p.resources } : {}),
    ...(p.serviceAccount ? { service_account: p.serviceAccount } : {}),
  };
}
