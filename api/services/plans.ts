import type { Queryable } from '../../core/db/pool.js';
import { withTx } from '../../core/db/pool.js';
import { badRequest, conflict, notFound } from '../../core/errors/knit-error.js';
import { changeAnnotations, changeResources, checkApplicable, findPlans, findPlansPage, insertPlan, previewPlan, setPlanActive, setServiceAccount, shapeOf } from '../../core/plan/db.js';
import { feedEdges, plansAround, type FeedEdge } from '../../core/plan/graph.js';
import { AnnotationChange, ResourceChange, toPlanDetail, type ApplyResult, type PlanDetail, type PlanLinks, type PlanRecord } from '../../core/plan/model.js';
import type { PlanFilter } from '../../core/plan/db.js';
import type { Page, PageRequest } from '../../core/page/page.js';
import { resourceBoundProblem, resourceValueProblem, type ResourceBounds } from '../../core/plan/resource-bounds.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import type { PlanSpec } from '../../core/plan/spec.js';
import type { ApiDeps } from '../server.js';

/**
 * What applying and switching plans means, whichever API is asked (knit's own routes and the
 * Knitfab-compatible ones): the deployment's bounds, the run cap, the change events.
 */

/** Refuses, with 400 naming `<root>.<name>`, a resource above what this deployment gives one run. */
export function checkBounds(resources: Record<string, string>, bounds: ResourceBounds, root: string): void {
  for (const [name, value] of Object.entries(resources)) {
    const problem = resourceBoundProblem(name, value, bounds);
    if (problem) throw badRequest(`${root}.${name}`, problem);
  }
}

/**
 * Applies a plan. `dryRun` reports the runs it would create, from which Data, and whether it
 * would be accepted; over the configured cap of runs at once it needs `yes`.
 */
export async function applyPlan(deps: ApiDeps, spec: PlanSpec, opts: { dryRun: boolean; yes: boolean; queries: Queryable }): Promise<ApplyResult> {
  checkBounds(spec.resources, deps.config.resourceBounds, 'resources');
  if (spec.network && !deps.config.allowNetwork) throw badRequest('network', 'this deployment gives runs no network (KNIT_ALLOW_NETWORK=false); remove network: true');
  const preview = await previewPlan(opts.queries, spec.inputs);
  if (opts.dryRun) {
    await withTx(deps.pool, async (tx) => {
      await checkApplicable(tx, spec, 'dry-run');
      // Read-only: nothing to commit.
    });
    return { plan: null, preview, dryRun: true };
  }
  const cap = deps.config.maxRunsPerApply;
  if (preview.runs > cap && !opts.yes) {
    throw conflict(`this plan would start ${preview.runs} runs at once, more than the cap of ${cap} (KNIT_MAX_RUNS_PER_APPLY); look at them with --dry-run, then apply with --yes`, {
      runs: preview.runs,
      cap,
    });
  }
  const plan = await withTx(deps.pool, (tx) => insertPlan(tx, spec));
  deps.onChange('plan.applied', plan.id);
  return { plan: toPlanDetail(plan, planLinks(await planNeighbourhood(deps.pool), plan.id)), preview, dryRun: false };
}

export async function setActive(deps: ApiDeps, id: string, active: boolean): Promise<PlanRecord> {
  const plan = await withTx(deps.pool, (tx) => setPlanActive(tx, id, active));
  if (!plan) throw notFound('plan', id);
  deps.onChange(active ? 'plan.activated' : 'plan.deactivated', id);
  return plan;
}

/** Sets and unsets resources of a plan (`{set, unset}`), within this deployment's bounds; 400s name `set.<name>`. */
export async function changePlanResources(deps: ApiDeps, id: string, body: unknown): Promise<PlanRecord> {
  const change = parseOrThrow(
    ResourceChange.superRefine((c, ctx) => {
      for (const [k, v] of Object.entries(c.set)) {
        const problem = resourceValueProblem(k, String(v).trim());
        if (problem) ctx.addIssue({ code: 'custom', path: ['set', k], message: problem });
      }
    }),
    body,
  );
  const set = Object.fromEntries(Object.entries(change.set).map(([k, v]) => [k, String(v).trim()]));
  checkBounds(set, deps.config.resourceBounds, 'set');
  const plan = await withTx(deps.pool, (tx) => changeResources(tx, id, set, change.unset));
  if (!plan) throw notFound('plan', id);
  return plan;
}

/** Removes annotations (by value or by key), then adds (`{add, remove, removeKey}`). */
export async function changePlanAnnotations(deps: ApiDeps, id: string, body: unknown): Promise<PlanRecord> {
  const change = parseOrThrow(AnnotationChange, body);
  const plan = await withTx(deps.pool, (tx) => changeAnnotations(tx, id, change));
  if (!plan) throw notFound('plan', id);
  return plan;
}

/** The service account a plan's runs get (null: none); it may change after applying. */
export async function setPlanServiceAccount(deps: ApiDeps, id: string, serviceAccount: string | null): Promise<PlanRecord> {
  const plan = await withTx(deps.pool, (tx) => setServiceAccount(tx, id, serviceAccount));
  if (!plan) throw notFound('plan', id);
  return plan;
}

/** Every plan, and which feeds which: what up- and downstreams are read from. */
export interface PlanNeighbourhood {
  plans: Map<string, PlanRecord>;
  edges: FeedEdge[];
}

/** One page of the plans the filter selects, each with the plans it feeds and is fed by. */
export async function listPlans(queries: Queryable, filter: PlanFilter, page: PageRequest): Promise<Page<PlanDetail>> {
  const found = await findPlansPage(queries, filter, page);
  if (found.items.length === 0) return { ...found, items: [] };
  const neighbourhood = await planNeighbourhood(queries);
  return { ...found, items: found.items.map((p) => toPlanDetail(p, planLinks(neighbourhood, p.id))) };
}

/** One read of all plans serves any number of planLinks calls (a list of plans reads it once). */
export async function planNeighbourhood(q: Queryable): Promise<PlanNeighbourhood> {
  const all = await findPlans(q, {});
  return { plans: new Map(all.map((p) => [p.id, p])), edges: feedEdges(all.map(shapeOf)) };
}

/** How far from a plan a plan graph reaches, in generations upstream and downstream. */
export interface PlanGraphReach {
  plan: string;
  up: number | 'all';
  down: number | 'all';
}

/**
 * Plans and which feeds which (an edge wherever an output's tags satisfy another plan's input):
 * every plan, or with `around` only those within its reach. Answers 404 for an unknown plan.
 */
export async function planGraph(q: Queryable, around?: PlanGraphReach) {
  const all = await planNeighbourhood(q);
  let shown = [...all.plans.values()];
  let edges = all.edges;
  if (around !== undefined) {
    if (!all.plans.has(around.plan)) throw notFound('plan', around.plan);
    const keep = plansAround(edges, around.plan, around.up, around.down);
    shown = shown.filter((p) => keep.has(p.id));
    edges = edges.filter((e) => keep.has(e.from) && keep.has(e.to));
  }
  return { plans: shown.map((p) => ({ id: p.id, image: p.image, active: p.active })), edges };
}

/** A plan's edges to its neighbours, with the neighbour plan; `output` is the producer's side, `input` the consumer's. */
export interface NeighbourEdge {
  plan: PlanRecord;
  output: string;
  input: string;
}

/** The plans feeding `planId`'s inputs and those its outputs and log feed, in edge order. */
export function neighbourEdges(n: PlanNeighbourhood, planId: string): { upstreams: NeighbourEdge[]; downstreams: NeighbourEdge[] } {
  const upstreams: NeighbourEdge[] = [];
  const downstreams: NeighbourEdge[] = [];
  for (const e of n.edges) {
    const from = n.plans.get(e.from);
    const to = n.plans.get(e.to);
    if (e.to === planId && from) upstreams.push({ plan: from, output: e.output, input: e.input });
    if (e.from === planId && to) downstreams.push({ plan: to, output: e.output, input: e.input });
  }
  return { upstreams, downstreams };
}

/** neighbourEdges in the shape of knit's plan JSON. */
export function planLinks(n: PlanNeighbourhood, planId: string): PlanLinks {
  const { upstreams, downstreams } = neighbourEdges(n, planId);
  const link = (e: NeighbourEdge) => ({ planId: e.plan.id, image: e.plan.image, output: e.output, input: e.input });
  return { upstreams: upstreams.map(link), downstreams: downstreams.map(link) };
}

/** A plan with its neighbours, as knit's routes answer. */
export async function planDetail(q: Queryable, plan: PlanRecord) {
  return toPlanDetail(plan, planLinks(await planNeighbourhood(q), plan.id));
}
