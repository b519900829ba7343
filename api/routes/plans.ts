import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { abortableQueries } from '../../core/db/abortable.js';
import { notFound } from '../../core/errors/knit-error.js';
import { getPlan } from '../../core/plan/db.js';
import { ActiveChange, ServiceAccountChange } from '../../core/plan/model.js';
import { PlanSpec } from '../../core/plan/spec.js';
import { planFileYaml } from '../../core/plan/yaml.js';
import { LIMITS } from '../../core/limits/limits.js';
import { SelectorTag, UserTag } from '../../core/tags/tag.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import { depthParam, repeated } from '../../core/validation/query.js';
import { clientGone } from '../client-gone.js';
import type { ApiDeps } from '../server.js';
import { applyPlan, changePlanAnnotations, changePlanResources, listPlans, planDetail, planGraph, setActive, setPlanServiceAccount } from '../services/plans.js';
import { sendPage } from '../pagination.js';
import { pageQuery, pageRequest } from '../../core/page/page.js';
import { resolveId, resolveIdParam } from '../services/ids.js';

const flag = z.enum(['true', 'false']).optional().transform((v) => v === 'true');

const ApplyQuery = z.object({ dryRun: flag, yes: flag }).strict();
const PlanQuery = z
  .object({
    active: z.enum(['true', 'false']).optional().transform((v) => (v === undefined ? undefined : v === 'true')),
    image: z.string().min(1).optional(),
    in: repeated(SelectorTag, LIMITS.tagsPerSelector, 'tags per query'),
    out: repeated(UserTag, LIMITS.tagsPerSelector, 'tags per query'),
    ...pageQuery,
  })
  .strict();

const PlanGraphQuery = z
  .object({ plan: z.string().min(1).optional(), up: depthParam, down: depthParam })
  .strict()
  .superRefine((q, ctx) => {
    if (q.plan === undefined && (q.up !== 0 || q.down !== 0)) ctx.addIssue({ code: 'custom', path: ['plan'], message: 'is needed with up or down: they count generations from a plan' });
  });

const PlanShowQuery = z.object({ format: z.enum(['json', 'yaml']).default('json') }).strict();

// An id or a unique prefix of one (api/services/ids.ts).
const planId = (deps: ApiDeps, params: unknown) => resolveIdParam(deps.pool, 'plan', params);

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
    const queries = abortableQueries(deps.pool, clientGone(reply));
    const filter = { active: q.active, image: q.image, inTags: q.in, outTags: q.out };
    return sendPage(req, reply, await listPlans(queries, filter, pageRequest(q)));
  });

  /**
   * Which plans feed which: an edge wherever an output's tags satisfy another plan's input. With
   * `plan`, only the plans `up` generations upstream of it and `down` downstream (numbers or "all").
   */
  app.get('/api/plans/graph', { config: { takesQuery: true } }, async (req) => {
    const q = parseOrThrow(PlanGraphQuery, req.query);
    if (q.plan === undefined) return planGraph(deps.pool);
    return planGraph(deps.pool, { plan: await resolveId(deps.pool, 'plan', q.plan), up: q.up, down: q.down });
  });

  /** The plan as JSON, or with `format=yaml` as its plan file (what `knit plan show` prints). */
  app.get('/api/plans/:id', { config: { takesQuery: true } }, async (req, reply) => {
    const { format } = parseOrThrow(PlanShowQuery, req.query);
    const id = await planId(deps, req.params);
    const plan = await getPlan(deps.pool, id);
    if (!plan) throw notFound('plan', id);
    const detail = await planDetail(deps.pool, plan);
    return format === 'yaml' ? reply.type('application/yaml; charset=utf-8').send(planFileYaml(detail)) : detail;
  });

  app.put('/api/plans/:id/active', async (req) => {
    const id = await planId(deps, req.params);
    const { active } = parseOrThrow(ActiveChange, req.body ?? {});
    return planDetail(deps.pool, await setActive(deps, id, active));
  });

  app.put('/api/plans/:id/resources', async (req) => planDetail(deps.pool, await changePlanResources(deps, await planId(deps, req.params), req.body ?? {})));

  app.put('/api/plans/:id/serviceaccount', async (req) => {
    const { serviceAccount } = parseOrThrow(ServiceAccountChange, req.body ?? {});
    return planDetail(deps.pool, await setPlanServiceAccount(deps, await planId(deps, req.params), serviceAccount));
  });

  app.put('/api/plans/:id/annotations', async (req) => planDetail(deps.pool, await changePlanAnnotations(deps, await planId(deps, req.params), req.body ?? {})));
}
