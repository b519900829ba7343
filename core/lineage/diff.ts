import { z } from 'zod';
import { notFound } from '../errors/knit-error.js';
import { LIMITS } from '../limits/limits.js';
import type { Provenance } from './provenance.js';

/**
 * Why two Data differ, by provenance: their producing runs compared (plan, image, command,
 * resources, network, output), then their inputs by mount path, walking up both lineages in
 * step. Each difference carries the path of input mounts that leads from A and B to it.
 */

export const DiffKind = z.enum([
  /** Two uploads: their content (digest, size) and tags. */
  'upload',
  /** One was uploaded, the other made by a run. */
  'origin',
  /** Made at different outputs (or one is a log). */
  'output',
  /** One is still being made, or its run failed. */
  'state',
  'plan',
  'image',
  'entrypoint',
  'args',
  'resources',
  'network',
  /** The producing runs read different mount paths. */
  'mounts',
  /** Input Data that differ but were not followed: a nearer difference explains the pair, or a bound cut the walk. */
  'input',
  /** Same plan, same input Data, different runs (a re-run): the program's output is not deterministic. */
  'rerun',
]);
export type DiffKind = z.infer<typeof DiffKind>;

const Pair = z.object({ a: z.string(), b: z.string() });

export const DiffStep = z.object({
  /** The producing runs of the pair before this step; their input at `mount` is `data`. */
  runs: Pair,
  mount: z.string(),
  data: Pair,
});
export type DiffStep = z.infer<typeof DiffStep>;

export const Difference = z.object({
  /** Input mounts followed from A and B up to the pair that differs here; empty for A and B themselves. */
  path: z.array(DiffStep),
  /** The pair of Data where the difference is. */
  data: Pair,
  kind: DiffKind,
  a: z.unknown(),
  b: z.unknown(),
  note: z.string(),
});
export type Difference = z.infer<typeof Difference>;

export const ProvenanceDiff = z.object({
  a: z.string(),
  b: z.string(),
  /** A and B are the same Data. */
  identical: z.boolean(),
  /** A and B were made the same way from the same Data (or are one Data): any difference is the program's. */
  sameProvenance: z.boolean(),
  /** The first differences found, nearest A and B first. */
  differences: z.array(Difference),
  /** Present when the walk's bounds (generations, pairs) stopped it before every branch was explained. */
  truncated: z.object({ message: z.string() }).optional(),
});
export type ProvenanceDiff = z.infer<typeof ProvenanceDiff>;

export interface DiffBounds {
  depth: number;
  pairs: number;
}

type Load = (ids: readonly string[]) => Promise<Map<string, Provenance>>;

interface Visit {
  a: string;
  b: string;
  path: DiffStep[];
}

const pairKey = (v: Visit) => `${v.a}|${v.b}`;
const same = (x: unknown, y: unknown) => canonical(x) === canonical(y);

/** JSON with object keys sorted, so `{cpu, memory}` equals `{memory, cpu}`. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/**
 * One pair compared: its differences, and the input pairs to follow when nothing about the runs
 * themselves explains it. A difference in how the runs ran (image, command, resources, ...) is
 * the nearest explanation: inputs that differ too are listed (`input`) but not followed.
 */
export function comparePair(pa: Provenance, pb: Provenance, path: DiffStep[]): { differences: Difference[]; follow: Visit[] } {
  const data = { a: pa.id, b: pb.id };
  const diff = (kind: DiffKind, a: unknown, b: unknown, note: string): Difference => ({ path, data, kind, a, b, note });
  const ra = pa.producer;
  const rb = pb.producer;
  if (!ra && !rb) {
    const content = (p: Provenance) => ({ digest: p.digest, size: p.size, tags: p.tags });
    const note = pa.digest !== null && pa.digest === pb.digest ? 'two uploads of the same content' : 'two uploads with different content';
    return { differences: [diff('upload', content(pa), content(pb), note)], follow: [] };
  }
  if (!ra || !rb) {
    const origin = (p: Provenance) => (p.producer ? { run: p.producer.runId, planId: p.producer.planId, output: p.producer.output } : { uploaded: true, digest: p.digest, tags: p.tags });
    return { differences: [diff('origin', origin(pa), origin(pb), `${ra ? 'B' : 'A'} was uploaded, ${ra ? 'A' : 'B'} made by a run`)], follow: [] };
  }
  const found: Difference[] = [];
  if (ra.runId === rb.runId) {
    return { differences: [diff('output', ra.output, rb.output, `both made by run ${ra.runId}, at different outputs`)], follow: [] };
  }
  if (ra.output !== rb.output) found.push(diff('output', ra.output, rb.output, 'made at different outputs of their runs'));
  if (pa.transient !== pb.transient) found.push(diff('state', pa.transient ?? 'ready', pb.transient ?? 'ready', 'one is not complete'));
  if (ra.planId !== rb.planId) {
    // The plans' ids differ; their image, command and resources say whether the computation did.
    for (const [kind, x, y] of [
      ['image', ra.image, rb.image],
      ['entrypoint', ra.entrypoint, rb.entrypoint],
      ['args', ra.args, rb.args],
      ['resources', ra.resources, rb.resources],
      ['network', ra.network, rb.network],
    ] as const) {
      if (!same(x, y)) found.push(diff(kind, x, y, `the plans run with different ${kind}`));
    }
    const paths = (r: typeof ra) => r.inputs.map((i) => i.path).sort();
    if (!same(paths(ra), paths(rb))) found.push(diff('mounts', paths(ra), paths(rb), 'the plans read different input mounts'));
    const planOnly = found.length === 0;
    found.unshift(diff('plan', ra.planId, rb.planId, planOnly ? 'different plans, that run the same way (their tags or annotations differ)' : 'different plans'));
  }
  const runs = { a: ra.runId, b: rb.runId };
  const inputsB = new Map(rb.inputs.map((i) => [i.path, i.dataId]));
  const differing: Visit[] = ra.inputs
    .filter((i) => inputsB.has(i.path) && inputsB.get(i.path) !== i.dataId)
    .map((i) => {
      const b = inputsB.get(i.path)!;
      return { a: i.dataId, b, path: [...path, { runs, mount: i.path, data: { a: i.dataId, b } }] };
    });
  const explained = found.some((d) => d.kind !== 'plan');
  if (explained) {
    for (const v of differing) found.push(notFollowed(v, 'differs too; not followed, the differences above come first'));
    return { differences: found, follow: [] };
  }
  if (differing.length === 0) {
    found.push(diff('rerun', ra.runId, rb.runId, 'made the same way from the same input Data by two runs: the program is not deterministic (or its image tag was moved)'));
  }
  return { differences: found, follow: differing };
}

function notFollowed(v: Visit, note: string): Difference {
  return { path: v.path, data: { a: v.a, b: v.b }, kind: 'input', a: v.a, b: v.b, note };
}

/**
 * Walks up from A and B together, breadth-first, one generation per `load`: the pairs whose runs
 * differ end their branch there, the pairs whose runs agree are followed into the inputs that
 * differ. A pair met twice (a diamond) is compared once. At most `bounds.depth` generations and
 * `bounds.pairs` pairs; what the bounds leave is listed as `input` and marked `truncated`.
 */
export async function diffProvenance(load: Load, a: string, b: string, bounds: DiffBounds = { depth: LIMITS.diffDepth, pairs: LIMITS.diffPairs }): Promise<ProvenanceDiff> {
  const top = await load([a, b]);
  if (!top.has(a)) throw notFound('data', a, 'a');
  if (!top.has(b)) throw notFound('data', b, 'b');
  if (a === b) return { a, b, identical: true, sameProvenance: true, differences: [] };

  const differences: Difference[] = [];
  const seen = new Set<string>();
  let cut: string | undefined;
  let level: Visit[] = [{ a, b, path: [] }];
  let known = top;
  for (let depth = 0; level.length > 0; depth++) {
    // A pair reached along two paths (a diamond) is compared, or listed, once: at its first path.
    const firsts = new Map<string, Visit>();
    for (const v of level) if (!seen.has(pairKey(v)) && !firsts.has(pairKey(v))) firsts.set(pairKey(v), v);
    level = [...firsts.values()];
    if (level.length === 0) break;
    if (depth >= bounds.depth) {
      cut = `stopped after ${bounds.depth} generations`;
      for (const v of level) differences.push(notFollowed(v, cut));
      break;
    }
    const missing = level.flatMap((v) => [v.a, v.b]).filter((id) => !known.has(id));
    if (missing.length > 0) known = new Map([...known, ...(await load(missing))]);
    const next: Visit[] = [];
    for (const v of level) {
      if (seen.size >= bounds.pairs) {
        cut = `stopped after comparing ${bounds.pairs} pairs of Data`;
        differences.push(notFollowed(v, cut));
        continue;
      }
      seen.add(pairKey(v));
      const pa = known.get(v.a);
      const pb = known.get(v.b);
      // Inputs are referenced by key, so both exist; a missing one would be a concurrent delete.
      if (!pa || !pb) continue;
      const r = comparePair(pa, pb, v.path);
      differences.push(...r.differences);
      next.push(...r.follow);
    }
    level = next;
  }
  const result: ProvenanceDiff = { a, b, identical: false, sameProvenance: differences.every((d) => d.kind === 'rerun'), differences };
  if (cut) result.truncated = { message: `the walk ${cut} (it compares at most ${bounds.pairs} pairs over ${bounds.depth} generations); the pairs listed as input there were not explained` };
  return result;
}

const short = (id: string) => id.slice(0, 8);

/** One difference as a line: where it is (A's mount path, up), what differs, and why it matters. */
export function formatDifference(d: Difference): string {
  const where = d.path.length === 0 ? 'A vs B' : ['A vs B', ...d.path.map((s) => `${s.mount} (runs ${short(s.runs.a)} vs ${short(s.runs.b)})`)].join(' ← ');
  const value = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  const pair = d.path.length === 0 ? '' : ` [Data ${short(d.data.a)}… vs ${short(d.data.b)}…]`;
  return `${where}${pair}: ${d.kind}: ${value(d.a)} vs ${value(d.b)} — ${d.note}`;
}

/** The whole diff as text, for a terminal. */
export function formatDiff(diff: ProvenanceDiff): string {
  if (diff.identical) return `${diff.a} and ${diff.b} are the same Data\n`;
  const head = diff.sameProvenance
    ? `${diff.a} and ${diff.b} have the same provenance: same plans, same input Data; they differ only because the program is not deterministic`
    : `${diff.a} (A) and ${diff.b} (B) differ by provenance:`;
  const lines = [head, ...diff.differences.map((d) => `  ${formatDifference(d)}`)];
  if (diff.truncated) lines.push(`  (${diff.truncated.message})`);
  return `${lines.join('\n')}\n`;
}
