import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { abortableQueries } from '../../core/db/abortable.js';
import { notFound } from '../../core/errors/knit-error.js';
import { findPlans, getPlan, shapeOf } from '../../core/plan/db.js';
import { feedEdges, planNeighbourhood } from '../../core/plan/graph.js';
import { ActiveChange, ServiceAccountChange, toPlanDetail } from '../../core/plan/model.js';
import { PlanSpec } from '../../core/plan/spec.js';
import { LIMITS } from '../../core/limits/limits.js';
import { SelectorTag, UserTag } from '../../core/tags/tag.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import { depthParam, repeated } from '../../core/validation/query.js';
import { clientGone } from '../client-gone.js';
import { idParam } from '../ids.js';
import type { ApiDeps } from '../server.js';
import { applyPlan, changePlanAnnotations, changePlanResources, setActive, setPlanServiceAccount } from '../services/plans.js';

const flag = z.enum(['true', 'false']).optional().transform((v) => v === 'true');

const ApplyQuery = z.object({ dryRun: flag, yes: flag }).strict();
const PlanQuery = z
  .object({
    active: z.enum(['true', 'false']).optional().transform((v) => (v === undefined ? undefined : v === 'true')),
    image: z.string().min(1).optional(),
    in: repeated(SelectorTag, LIMITS.tagsPerSelector, 'tags per query'),
    out: repeated(UserTag, LIMITS.tagsPerSelector, 'tags per query'),
  })
  .strict();

const PlanGraphQuery = z
  .object({ plan: z.uuid({ error: 'must be a plan id (a UUID)' }).optional(), up: depthParam, down: depthParam })
  .strict()
  .superRefine((q, ctx) => {
    if (q.plan === undefined && (q.up !== 0 || q.down !== 0)) ctx.addIssue({ code: 'custom', path: ['plan'], message: 'is needed with up or down: they count generations from a plan' });
  });

export function registerPlanRoutes(app: FastifyInstance, deps: ApiDeps): void {
  /** Applies a plan (api/services/plans.ts); a new plan answers 201. */
  app.post('/api/plans', { config: { takesQuery: true } }, async (req, reply) => {
    const query = parseOrThrow(ApplyQuery, req.query);
    const spec = parseOrThrow(PlanSpec, req.body ?? {});
    const result = await applyPlan(deps, spec, { dryRun: query.dryRun, yes: query.yes, queries: abortableQueries(deps.pool, clientGone(reply)) });
    return result.dryRun ? result : reply.code(201).send(result);
  });

  app.get('/api/plans', { config: { takesQuery: true } }, async (req, reply) => {
    const q = parseOrThrow(PlanQuery, req.query);
    return (await findPlans(abortableQueries(deps.pool, clientGone(reply)), { active: q.active, image: q.image, inTags: q.in, outTags: q.out })).map(toPlanDetail);
  });

  /**
   * Which plans feed which: an edge wherever an output's tags satisfy another plan's input. With
   * `plan`, only the plans `up` generations upstream of it and `down` downstream (numbers or "all").
   */
  app.get('/api/plans/graph', { config: { takesQuery: true } }, async (req) => {
    const q = parseOrThrow(PlanGraphQuery, req.query);
    const plans = await findPlans(deps.pool, {});
    let edges = feedEdges(plans.map(shapeOf));
    let shown = plans;
    if (q.plan !== undefined) {
      if (!plans.some((p) => p.id === q.plan)) throw notFound('plan', q.plan);
      const keep = planNeighbourhood(edges, q.plan, q.up, q.down);
      shown = plans.filter((p) => keep.has(p.id));
      edges = edges.filter((e) => keep.has(e.from) && keep.has(e.to));
    }
    return { plans: shown.map((p) => ({ id: p.id, image: p.image, active: p.active })), edges };
  });

  app.get('/api/plans/:id', async (req) => {
    const id = idParam(req.params, 'plan');
    const plan = await getPlan(deps.pool, id);
    if (!plan) throw notFound('plan', id);
    return toPlanDetail(plan);
  });

  app.put('/api/plans/:id/active', async (req) => {
    const id = idParam(req.params, 'plan');
    const { active } = parseOrThrow(ActiveChange, req.body ?? {});
    return toPlanDetail(await setActive(deps, id, active));
  });

  app.put('/api/plans/:id/resources', async (req) => toPlanDetail(await changePlanResources(deps, idParam(req.params, 'plan'), req.body ?? {})));

  app.put('/api/plans/:id/serviceaccount', async (req) => {
    const { serviceAccount } = parseOrThrow(ServiceAccountChange, req.body ?? {});
    return toPlanDetail(await setPlanServiceAccount(deps, idParam(req.params, 'plan'), serviceAccount));
  });

  app.put('/api/plans/:id/annotations', async (req) => toPlanDetail(await changePlanAnnotations(deps, idParam(req.params, 'plan'), req.body ?? {})));
}
