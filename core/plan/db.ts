import { randomUUID } from 'node:crypto';
import { badRequest, conflict } from '../errors/knit-error.js';
import { LIMITS, overLimit } from '../limits/limits.js';
import { SqlParams, whereClause } from '../db/params.js';
import { selectPage, type Page, type PageRequest } from '../page/page.js';
import type { Queryable, Tx } from '../db/pool.js';
import { eligible, tagConditions } from '../data/selectors.js';
import { appendOutbox } from '../outbox/db.js';
import { formatTag, normalizeTags, tagsFromPairs, type Tag } from '../tags/tag.js';
import { findCycle, type PlanShape } from './graph.js';
import type { PlanPreview, PlanRecord } from './model.js';
import { specHash, type PlanSpec } from './spec.js';
import type { IdPrefix } from '../validation/id-prefix.js';

// Applying plans one at a time keeps the equivalence and cycle checks true at commit.
const APPLY_LOCK = 7_420_002;

interface PlanRow {
  id: string;
  created_at: Date;
  image: string;
  entrypoint: string[] | null;
  args: string[] | null;
  log_tags: Array<[string, string]> | null;
  on_node: PlanSpec['on_node'];
  active: boolean;
  resources: Record<string, string>;
  service_account: string | null;
  annotations: string[];
  match_error: string | null;
  match_failed_at: Date | null;
  match_failures: number;
  match_retry_at: Date | null;
  network: boolean;
  inputs: Array<{ path: string; tags: Array<[string, string]> }>;
  outputs: Array<{ path: string; tags: Array<[string, string]> }>;
}

const asPairs = (ts: readonly Tag[]) => ts.map((t) => [t.key, t.value]);

const SELECT = `
SELECT p.id, p.created_at, p.image, p.entrypoint, p.args, p.log_tags, p.on_node, p.active, p.resources,
       p.service_account, p.annotations, p.match_error, p.match_failed_at, p.match_failures, p.match_retry_at, p.network,
  COALESCE((SELECT json_agg(json_build_object('path', i.path, 'tags',
      COALESCE((SELECT json_agg(json_build_array(t.key, t.value) ORDER BY t.key, t.value)
                FROM plan_input_tag t WHERE t.plan_id = i.plan_id AND t.idx = i.idx), '[]'::json)) ORDER BY i.idx)
    FROM plan_input i WHERE i.plan_id = p.id), '[]'::json) AS inputs,
  COALESCE((SELECT json_agg(json_build_object('path', o.path, 'tags', o.tags) ORDER BY o.idx)
    FROM plan_output o WHERE o.plan_id = p.id), '[]'::json) AS outputs
FROM plan p`;

function toRecord(r: PlanRow): PlanRecord {
  return {
    id: r.id,
    createdAt: r.created_at,
    image: r.image,
    entrypoint: r.entrypoint,
    args: r.args,
    inputs: r.inputs.map((i) => ({ path: i.path, tags: tagsFromPairs(i.tags) })),
    outputs: r.outputs.map((o) => ({ path: o.path, tags: tagsFromPairs(o.tags) })),
    logTags: r.log_tags === null ? null : tagsFromPairs(r.log_tags),
    active: r.active,
    resources: r.resources,
    onNode: r.on_node,
    serviceAccount: r.service_account,
    annotations: r.annotations,
    matchError:
      r.match_error === null
        ? null
        : { message: r.match_error, failedAt: r.match_failed_at!, failures: r.match_failures, retryAt: r.match_retry_at! },
    network: r.network,
  };
}

export async function getPlan(q: Queryable, id: string): Promise<PlanRecord | undefined> {
  const r = await q.query<PlanRow>(`${SELECT} WHERE p.id = $1`, [id]);
  return r.rows[0] ? toRecord(r.rows[0]) : undefined;
}

/** The plans of the given ids that exist, in one query. */
export async function getPlans(q: Queryable, ids: readonly string[]): Promise<PlanRecord[]> {
  if (ids.length === 0) return [];
  const r = await q.query<PlanRow>(`${SELECT} WHERE p.id = ANY($1::uuid[]) ORDER BY p.created_at, p.id`, [[...new Set(ids)]]);
  return r.rows.map(toRecord);
}

/** Ids of plans starting with the prefix, at most `limit`, in id order (the primary key's range). */
export async function planIdsWithPrefix(q: Queryable, prefix: IdPrefix, limit: number): Promise<string[]> {
  const r = await q.query<{ id: string }>('SELECT id FROM plan WHERE id BETWEEN $1::uuid AND $2::uuid ORDER BY id LIMIT $3', [prefix.lo, prefix.hi, limit]);
  return r.rows.map((row) => row.id);
}

export interface PlanFilter {
  active?: boolean | undefined;
  image?: string | undefined;
  inTags?: readonly Tag[];
  outTags?: readonly Tag[];
}

function findConditions(f: PlanFilter, params: SqlParams): string[] {
  const p = (v: unknown) => params.add(v);
  const where: string[] = [];
  if (f.active !== undefined) where.push(`p.active = ${p(f.active)}`);
  if (f.image !== undefined) where.push(f.image.includes(':') ? `p.image = ${p(f.image)}` : `split_part(p.image, ':', 1) = ${p(f.image)}`);
  if (f.inTags && f.inTags.length > 0) {
    // One input holding all of them, counted as in the Data selectors: the text does not grow with the tags.
    const tags = normalizeTags(f.inTags);
    where.push(`EXISTS (SELECT 1 FROM plan_input_tag t
      JOIN unnest(${p(tags.map((x) => x.key))}::text[], ${p(tags.map((x) => x.value))}::text[]) AS want(key, value) ON t.key = want.key AND t.value = want.value
      WHERE t.plan_id = p.id GROUP BY t.idx HAVING count(*) = ${p(tags.length)})`);
  }
  if (f.outTags && f.outTags.length > 0) {
    where.push(`(EXISTS (SELECT 1 FROM plan_output o WHERE o.plan_id = p.id AND o.tags @> ${p(JSON.stringify(asPairs(f.outTags)))}::jsonb)
               OR (p.log_tags IS NOT NULL AND p.log_tags @> ${p(JSON.stringify(asPairs(f.outTags)))}::jsonb))`);
  }
  return where;
}

/** Plans matching every given criterion, oldest first; `inTags`/`outTags` must all appear on one input/output. */
export async function findPlans(q: Queryable, f: PlanFilter): Promise<PlanRecord[]> {
  const params = new SqlParams();
  const where = findConditions(f, params);
  const r = await q.query<PlanRow>(`${SELECT} ${whereClause(where)} ORDER BY p.created_at, p.id`, params.values);
  return r.rows.map(toRecord);
}

/** One page of the plans matching the filter, oldest first. */
export async function findPlansPage(q: Queryable, f: PlanFilter, page: PageRequest): Promise<Page<PlanRecord>> {
  const params = new SqlParams();
  return selectPage(q, { sql: SELECT, alias: 'p', where: findConditions(f, params), params }, page, toRecord);
}

/** Every plan's inputs and produced tags, for the feed graph and cycle checks. */
export async function planShapes(q: Queryable): Promise<PlanShape[]> {
  return (await findPlans(q, {})).map(shapeOf);
}

export function shapeOf(p: Pick<PlanRecord, 'id' | 'inputs' | 'outputs' | 'logTags'>): PlanShape {
  return {
    id: p.id,
    inputs: p.inputs,
    produces: [...p.outputs, { path: 'log', tags: p.logTags ?? [] }].filter((o) => o.tags.length > 0),
  };
}

/** For each input, the eligible Data it would take now; the run count is their product. */
export async function previewPlan(q: Queryable, inputs: ReadonlyArray<{ path: string; tags: Tag[] }>): Promise<PlanPreview> {
  const out: PlanPreview['inputs'] = [];
  let runs = 1;
  for (const input of inputs) {
    const params = new SqlParams();
    const r = await q.query<{ id: string }>(`SELECT d.id FROM data d WHERE ${eligible('d')} AND ${tagConditions('d', input.tags, params)} ORDER BY d.created_at, d.id`, params.values);
    out.push({ path: input.path, tags: input.tags.map(formatTag), dataIds: r.rows.map((x) => x.id) });
    runs *= r.rows.length;
  }
  return { runs, inputs: out };
}

/**
 * Refuses, with 409, a plan equivalent to an existing one (its id in the details) or one that
 * would close a cycle of plans feeding each other. Holds the apply lock until the transaction
 * ends, so the answer stays true until the plan is inserted.
 */
export async function checkApplicable(tx: Tx, spec: PlanSpec, id: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [APPLY_LOCK]);
  const existing = await tx.query<{ id: string }>('SELECT id FROM plan WHERE spec_hash = $1', [specHash(spec)]);
  if (existing.rows[0]) {
    throw conflict(`an equivalent plan already exists: ${existing.rows[0].id}; change its active flag, resources or annotations instead`, {
      existingPlanId: existing.rows[0].id,
    });
  }
  const shape = shapeOf({ id, inputs: spec.inputs, outputs: spec.outputs, logTags: spec.log ? spec.log.tags : null });
  const cycle = findCycle([...(await planShapes(tx)), shape], id);
  if (cycle) {
    const name = (planId: string) => (planId === id ? 'this plan' : `plan ${planId}`);
    const steps = cycle.map((e) => `${name(e.from)} ${e.output} -> ${name(e.to)} ${e.input}`);
    throw conflict(`this plan would feed itself through a cycle of plans: ${steps.join(', then ')}; change an output's or an input's tags`, { cycle });
  }
}

/** Registers a plan (see checkApplicable) with an outbox event, so the matcher creates its runs. */
export async function insertPlan(tx: Tx, spec: PlanSpec): Promise<PlanRecord> {
  const id = randomUUID();
  await checkApplicable(tx, spec, id);
  const hash = specHash(spec);
  await tx.query(
    `INSERT INTO plan (id, spec_hash, image, entrypoint, args, log_tags, on_node, active, resources, service_account, annotations, network)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      id,
      hash,
      spec.image,
      spec.entrypoint === undefined ? null : JSON.stringify(spec.entrypoint),
      spec.args === undefined ? null : JSON.stringify(spec.args),
      spec.log ? JSON.stringify(asPairs(spec.log.tags)) : null,
      JSON.stringify(spec.on_node),
      spec.active,
      JSON.stringify(spec.resources),
      spec.service_account ?? null,
      JSON.stringify(spec.annotations),
      spec.network,
    ],
  );
  for (const [idx, input] of spec.inputs.entries()) {
    await tx.query('INSERT INTO plan_input (plan_id, idx, path) VALUES ($1, $2, $3)', [id, idx, input.path]);
    await tx.query(
      `INSERT INTO plan_input_tag (plan_id, idx, key, value) SELECT $1, $2, k, v FROM unnest($3::text[], $4::text[]) AS x(k, v)`,
      [id, idx, input.tags.map((t) => t.key), input.tags.map((t) => t.value)],
    );
  }
  for (const [idx, output] of spec.outputs.entries()) {
    await tx.query('INSERT INTO plan_output (plan_id, idx, path, tags) VALUES ($1, $2, $3, $4)', [id, idx, output.path, JSON.stringify(asPairs(output.tags))]);
  }
  await appendOutbox(tx, 'plan.applied', id);
  return (await getPlan(tx, id))!;
}

async function lockPlan(tx: Tx, id: string): Promise<boolean> {
  return ((await tx.query('SELECT 1 FROM plan WHERE id = $1 FOR UPDATE', [id])).rowCount ?? 0) > 0;
}

/**
 * Activates or deactivates a plan. Runs waiting on a deactivated plan are held back as
 * `deactivated` (runs already past that point finish); on activation they wait again.
 */
export async function setPlanActive(tx: Tx, id: string, active: boolean): Promise<PlanRecord | undefined> {
  if (!(await lockPlan(tx, id))) return undefined;
  await tx.query('UPDATE plan SET active = $2 WHERE id = $1', [id, active]);
  if (active) {
    await tx.query(
      `UPDATE run SET status = 'waiting', workflow_started = false, updated_at = date_trunc('milliseconds', clock_timestamp())
       WHERE plan_id = $1 AND status = 'deactivated'`,
      [id],
    );
  } else {
    await tx.query(
      `UPDATE run SET status = 'deactivated', updated_at = date_trunc('milliseconds', clock_timestamp())
       WHERE plan_id = $1 AND status = 'waiting'`,
      [id],
    );
  }
  await appendOutbox(tx, active ? 'plan.activated' : 'plan.deactivated', id);
  return getPlan(tx, id);
}

/** Sets (or, with null, unsets) the service account a plan's runs get; not part of its equivalence. */
export async function setServiceAccount(tx: Tx, id: string, serviceAccount: string | null): Promise<PlanRecord | undefined> {
  if (!(await lockPlan(tx, id))) return undefined;
  await tx.query('UPDATE plan SET service_account = $2 WHERE id = $1', [id, serviceAccount]);
  return getPlan(tx, id);
}

export async function changeResources(tx: Tx, id: string, set: Record<string, string>, unset: readonly string[]): Promise<PlanRecord | undefined> {
  if (!(await lockPlan(tx, id))) return undefined;
  await tx.query(`UPDATE plan SET resources = (resources - $2::text[]) || $3::jsonb WHERE id = $1`, [id, unset, JSON.stringify(set)]);
  return getPlan(tx, id);
}

export async function changeAnnotations(tx: Tx, id: string, change: { add: string[]; remove: string[]; removeKey: string[] }): Promise<PlanRecord | undefined> {
  if (!(await lockPlan(tx, id))) return undefined;
  const current = (await getPlan(tx, id))!.annotations;
  const keyOf = (a: string) => a.slice(0, a.indexOf('='));
  const kept = current.filter((a) => !change.remove.includes(a) && !change.removeKey.includes(keyOf(a)));
  const next = [...new Set([...kept, ...change.add])];
  if (next.length > LIMITS.annotationsPerPlan) throw badRequest('add', overLimit(LIMITS.annotationsPerPlan, 'annotations per plan', next.length));
  await tx.query('UPDATE plan SET annotations = $2 WHERE id = $1', [id, JSON.stringify(next)]);
  return getPlan(tx, id);
}
