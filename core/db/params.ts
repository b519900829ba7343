/**
 * Collects the values of a query built piece by piece; `add` returns the placeholder (`$3`) to
 * put in the SQL text, so text and values cannot drift apart.
 */
export class SqlParams {
  readonly values: unknown[];

  constructor(initial: unknown[] = []) {
    this.values = initial;
  }

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** `WHERE a AND b`, or nothing when there are no conditions. */
export const whereClause = (where: readonly string[]) => (where.length ? `WHERE ${where.join(' AND ')}` : '');
