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

/** An RFC3339 time such as 2026-01-02T03:04:05Z, as a Date. */
export const Rfc3339Time = z.string().transform((s, ctx) => {
  const t = Date.parse(s);
  if (Number.isNaN(t)) {
    ctx.addIssue({ code: 'custom', message: `must be an RFC3339 time such as 2026-01-02T03:04:05Z, got ${JSON.stringify(s)}` });
    return z.NEVER;
  }
  return new Date(t);
});

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
  duration: DurationMs.optional(),
};

export function durationNeedsSince(q: { since?: Date | undefined; duration?: number | undefined }, ctx: z.RefinementCtx): void {
  if (q.duration !== undefined && q.since === undefined) {
    ctx.addIssue({ code: 'custom', path: ['duration'], message: 'needs since: the window is [since, since + duration)' });
  }
}
