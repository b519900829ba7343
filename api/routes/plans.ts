import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { abortableQueries } from '../../core/db/abortable.js';
import { withTx } from '../../core/db/pool.js';
import { badRequest, conflict, notFound } from '../../core/errors/knit-error.js';
import { changeAnnotations, changeResources, checkApplicable, findPlans, getPlan, insertPlan, previewPlan, setPlanActive, shapeOf } from '../../core/plan/db.js';
import { feedEdges } from '../../core/plan/graph.js';
import { ActiveChange, AnnotationChange, ResourceChange, toPlanDetail, type ApplyResult } from '../../core/plan/model.js';
import { resourceBoundProblem, resourceValueProblem, type ResourceBounds } from '../../core/plan/resource-bounds.js';
import { PlanSpec } from '../../core/plan/spec.js';
import { LIMITS } from '../../core/limits/limits.js';
import { SelectorTag, UserTag } from '../../core/tags/tag.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import { repeated } from '../../core/validation/query.js';
import { clientGone } from '../client-gone.js';
import { idParam } from '../ids.js';
import type { ApiDeps } from '../server.js';

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

export function registerPlanRoutes(app: FastifyInstance, deps: ApiDeps): void {
  /**
   * Applies a plan. `dryRun` reports the runs it would create, from which Data, and whether it
   * would be accepted; over the configured cap of runs at once it needs `yes`.
   */
  app.post('/api/plans', { config: { takesQuery: true } }, async (req, reply) => {
    const query = parseOrThrow(ApplyQuery, req.query);
    const spec = parseOrThrow(PlanSpec, req.body ?? {});
    checkBounds(spec.resources, deps.config.resourceBounds, 'resources');
    if (spec.network && !deps.config.allowNetwork) throw badRequest('network', 'this deployment gives runs no network (KNIT_ALLOW_NETWORK=false); remove network: true');
    const preview = await previewPlan(abortableQueries(deps.pool, clientGone(reply)), spec.inputs);
    if (query.dryRun) {
      await withTx(deps.pool, async (tx) => {
        await checkApplicable(tx, spec, 'dry-run');
        // Read-only: nothing to commit.
      });
      const result: ApplyResult = { plan: null, preview, dryRun: true };
      return result;
    }
    const cap = deps.config.maxRunsPerApply;
    if (preview.runs > cap && !query.yes) {
      throw conflict(`this plan would start ${preview.runs} runs at once, more than the cap of ${cap} (KNIT_MAX_RUNS_PER_APPLY); look at them with --dry-run, then apply with --yes`, {
        runs: preview.runs,
        cap,
      });
    }
    const plan = await withTx(deps.pool, (tx) => insertPlan(tx, spec));
    deps.onChange('plan.applied', plan.id);
    const result: ApplyResult = { plan: toPlanDetail(plan), preview, dryRun: false };
    return reply.code(201).send(result);
  });

  app.get('/api/plans', { config: { takesQuery: true } }, async (req, reply) => {
    const q = parseOrThrow(PlanQuery, req.query);
    return (await findPlans(abortableQueries(deps.pool, clientGone(reply)), { active: q.active, image: q.image, inTags: q.in, outTags: q.out })).map(toPlanDetail);
  });

  /** Which plans feed which: an edge wherever an output's tags satisfy another plan's input. */
  app.get('/api/plans/graph', async () => {
    const plans = await findPlans(deps.pool, {});
    return { plans: plans.map((p) => ({ id: p.id, image: p.image, active: p.active })), edges: feedEdges(plans.map(shapeOf)) };
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
    const plan = await withTx(deps.pool, (tx) => setPlanActive(tx, id, active));
    if (!plan) throw notFound('plan', id);
    deps.onChange(active ? 'plan.activated' : 'plan.deactivated', id);
    return toPlanDetail(plan);
  });

  app.put('/api/plans/:id/resources', async (req) => {
    const id = idParam(req.params, 'plan');
    const change = parseOrThrow(
      ResourceChange.superRefine((c, ctx) => {
        for (const [k, v] of Object.entries(c.set)) {
          const problem = resourceValueProblem(k, String(v).trim());
          if (problem) ctx.addIssue({ code: 'custom', path: ['set', k], message: problem });
        }
      }),
      req.body ?? {},
    );
    const set = Object.fromEntries(Object.entries(change.set).map(([k, v]) => [k, String(v).trim()]));
    checkBounds(set, deps.config.resourceBounds, 'set');
    const plan = await withTx(deps.pool, (tx) => changeResources(tx, id, set, change.unset));
    if (!plan) throw notFound('plan', id);
    return toPlanDetail(plan);
  });

  app.put('/api/plans/:id/annotations', async (req) => {
    const id = idParam(req.params, 'plan');
    const change = parseOrThrow(AnnotationChange, req.body ?? {});
    const plan = await withTx(deps.pool, (tx) => changeAnnotations(tx, id, change));
    if (!plan) throw notFound('plan', id);
    return toPlanDetail(plan);
  });
}

/** Refuses, with 400 naming `<root>.<name>`, a resource above what this deployment gives one run. */
function checkBounds(resources: Record<string, string>, bounds: ResourceBounds, root: string): void {
  for (const [name, value] of Object.entries(resources)) {
    const problem = resourceBoundProblem(name, value, bounds);
    if (problem) throw badRequest(`${root}.${name}`, problem);
  }
}
