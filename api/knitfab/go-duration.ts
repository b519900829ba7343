import { badRequest } from '../../core/errors/knit-error.js';

/** Milliseconds in each unit of Go's time.Duration syntax. */
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration as Go writes it (`24h0m0s`, `1h30m`, `300ms`, `1m0.5s`): what Knitfab's CLI sends
 * for `--duration`. Undefined when it is not one.
 */
export function parseGoDuration(s: string): number | undefined {
  if (s === '0') return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let ms = 0;
  let at = 0;
  while (at < s.length) {
    part.lastIndex = at;
    const m = part.exec(s);
    if (!m) return undefined;
    ms += Number(m[1]) * UNIT_MS[m[2]!]!;
    at = part.lastIndex;
  }
  return at === 0 ? undefined : ms;
}

/** A query parameter in Go's duration syntax, in milliseconds; a 400 naming `field` when it is not one. */
export function goDurationParam(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseGoDuration(value);
  if (ms === undefined) throw badRequest(field, `must be a Go duration such as 24h0m0s or 90m, got ${JSON.stringify(value)}`);
  return ms;
}
