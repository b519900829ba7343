import type { z } from 'zod';

/** A mistake in how the command was called: exit code 2, with the usage hint. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Validates each value of a repeatable flag, naming the flag and the value on failure. */
export function parseFlagValues<S extends z.ZodType>(flag: string, values: readonly unknown[] | undefined, schema: S): Array<z.output<S>> {
  return (values ?? []).map((v) => {
    const r = schema.safeParse(v);
    if (!r.success) throw new UsageError(`${flag} ${JSON.stringify(String(v))}: ${r.error.issues[0]?.message ?? 'invalid'}`);
    return r.data;
  });
}

/** yargs gives a single string or an array for repeatable options; normalize to an array of strings. */
export function many(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** `--numbers` (`-n`): how many generations a graph is traced, or "all". */
export function parseDepth(raw: string): number | 'all' {
  if (raw === 'all') return 'all';
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n)) throw new UsageError(`--numbers ${JSON.stringify(raw)}: must be a whole number or "all"`);
  return n;
}

/** `--limit`: at most this many items of a list, a positive whole number; undefined when not given. */
export function parseLimit(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`--limit ${JSON.stringify(raw)}: must be a whole number of at least 1`);
  return n;
}

/** The `--limit` option of the find commands. */
export const limitOption = { type: 'string', requiresArg: true, describe: 'at most this many, the oldest first (default: all)' } as const;
