import { z } from 'zod';
import { parseDuration } from '../config/units.js';
import { overLimit } from '../limits/limits.js';

/**
 * An array of at most `max` items, refused with `at most 32 tags per query, got 200`. The count
 * is checked before the items, so an oversized list costs no per-item work.
 */
export const bounded = <T extends z.ZodType>(item: T, max: number, what: string) =>
  z
    .array(z.unknown())
    .superRefine((a, ctx) => {
      if (a.length > max) ctx.addIssue({ code: 'custom', message: overLimit(max, what, a.length) });
    })
    .pipe(z.array(item));

/** A query parameter that may be given once, many times, or not at all: always a list of at most `max`. */
export const repeated = <T extends z.ZodType>(item: T, max: number, what: string) =>
  z.preprocess((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]), bounded(item, max, what));

// RFC3339 times have four-digit years. JavaScript dates reach further than PostgreSQL's
// timestamps, so a time outside this range would fail in the database instead of here.
// Date.UTC maps years 0-99 to 1900-1999, hence setUTCFullYear.
const EARLIEST = new Date(0).setUTCFullYear(1, 0, 1);
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** An RFC3339 time such as 2026-01-02T03:04:05Z, as a Date; years 0001 to 9999. */
export const Rfc3339Time = z.string().transform((s, ctx) => {
  const t = Date.parse(s);
  if (Number.isNaN(t)) {
    ctx.addIssue({ code: 'custom', message: `must be an RFC3339 time such as 2026-01-02T03:04:05Z, got ${JSON.stringify(s)}` });
    return z.NEVER;
  }
  if (t < EARLIEST || t > LATEST) {
    ctx.addIssue({ code: 'custom', message: `must be a time between years 0001 and 9999, got ${JSON.stringify(s)}` });
    return z.NEVER;
  }
  return new Date(t);
});

/** The longest find window: ten thousand years keeps since + duration a valid timestamp. */
export const MAX_WINDOW_MS = 10_000 * 365.25 * 86_400_000;

/** A duration such as 90s, 30m, 1h or 2d, in milliseconds. */
export const DurationMs = z.string().transform((s, ctx) => {
  const ms = parseDuration(s);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be a duration such as 90s, 30m, 1h or 2d, got ${JSON.stringify(s)}` });
    return z.NEVER;
  }
  return ms;
});

/** The `since` / `duration` window shared by the find queries: [since, since + duration). */
export const timeWindow = {
  since: Rfc3339Time.optional(),
  duration: DurationMs.pipe(z.number().max(MAX_WINDOW_MS, 'must be at most 3652500d (10,000 years)')).optional(),
};

export function durationNeedsSince(q: { since?: Date | undefined; duration?: number | undefined }, ctx: z.RefinementCtx): void {
  if (q.duration !== undefined && q.since === undefined) {
    ctx.addIssue({ code: 'custom', path: ['duration'], message: 'needs since: the window is [since, since + duration)' });
  }
}

/** How far a graph is traced (`up`, `down`): a number of generations or "all"; 0 when absent. */
export const depthParam = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined) return 0;
    if (v === 'all') return 'all' as const;
    if (!/^\d+$/.test(v)) {
      ctx.addIssue({ code: 'custom', message: `must be a number of generations or "all", got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return Number(v);
  });
