import { z } from 'zod';
import { LIMITS } from '../limits/limits.js';
import { SqlParams, whereClause } from '../db/params.js';
import type { Queryable } from '../db/pool.js';
import { isUuid } from '../tags/tag.js';

/**
 * Where a page ends: the last row's creation time, exactly as the database holds it (its text
 * form to the microsecond, so no precision is lost through a JavaScript Date), and its id, which breaks ties.
 * Lists are ordered by (created_at, id), which never changes for a row, so paging while rows are
 * added neither skips nor repeats one: a keyset, not an offset.
 */
export interface PagePosition {
  at: string;
  id: string;
}

export interface PageRequest {
  limit: number;
  after?: PagePosition | undefined;
}

/** One page of a list, and the cursor of the next one when there is more. */
export interface Page<T> {
  items: T[];
  next?: string;
}

/** The cursor is opaque to clients: they pass back what a `Link: …; rel="next"` gave them. */
export function encodeCursor(p: PagePosition): string {
  return Buffer.from(JSON.stringify([p.at, p.id])).toString('base64url');
}

// A fixed format in UTC to the microsecond, whatever the session's DateStyle and TimeZone.
const POSITION_TEXT = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const NOT_A_CURSOR = 'must be the cursor of a rel="next" Link a previous page gave; start again without it';

export const PageCursor = z.string().transform((s, ctx): PagePosition => {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  const [at, id] = Array.isArray(decoded) && decoded.length === 2 ? (decoded as unknown[]) : [];
  if (typeof at !== 'string' || typeof id !== 'string' || !isUuid(id) || Number.isNaN(Date.parse(at))) {
    ctx.addIssue({ code: 'custom', message: NOT_A_CURSOR });
    return z.NEVER;
  }
  return { at, id };
});

/** `limit` and `after`, spread into each list's query schema beside its filters. */
export const pageQuery = {
  limit: z.coerce
    .number()
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(LIMITS.pageMax, `must be at most ${LIMITS.pageMax}: follow the rel="next" Link for more`)
    .optional(),
  after: PageCursor.optional(),
};

export function pageRequest(q: { limit?: number | undefined; after?: PagePosition | undefined }): PageRequest {
  return { limit: q.limit ?? LIMITS.pageDefault, after: q.after };
}

/** The condition that keeps the rows after the cursor, for a list ordered by (created_at, id). */
function afterCondition(alias: string, page: PageRequest, params: SqlParams): string | undefined {
  if (!page.after) return undefined;
  return `(${alias}.created_at, ${alias}.id) > (${params.add(page.after.at)}::timestamptz, ${params.add(page.after.id)}::uuid)`;
}

/**
 * Wraps a list statement (ordered by created_at, id) to read one row past the page, which tells
 * whether there is a next one, and each row's position in the database's own text form.
 */
function pagedStatement(list: string, page: PageRequest, params: SqlParams): string {
  return `SELECT page.*, ${POSITION_TEXT('page.created_at')} AS page_at FROM (${list} LIMIT ${params.add(page.limit + 1)}) page ORDER BY page.created_at, page.id`;
}

/** The page out of the rows of a pagedStatement. */
function cutPage<R extends { id: string; page_at: string }, T>(rows: readonly R[], page: PageRequest, toItem: (r: R) => T): Page<T> {
  const kept = rows.slice(0, page.limit);
  const last = kept[kept.length - 1];
  const items = kept.map(toItem);
  return rows.length > page.limit && last ? { items, next: encodeCursor({ at: last.page_at, id: last.id }) } : { items };
}

/**
 * One page of `select` (a statement without WHERE, whose rows have `alias`.id and .created_at),
 * filtered by `where` (its values in `params`), in (created_at, id) order.
 */
export async function selectPage<R extends { id: string }, T>(
  q: Queryable,
  select: { sql: string; alias: string; where: string[]; params: SqlParams },
  page: PageRequest,
  toItem: (r: R) => T,
): Promise<Page<T>> {
  const { sql, alias, where, params } = select;
  const after = afterCondition(alias, page, params);
  const list = `${sql} ${whereClause(after ? [...where, after] : where)} ORDER BY ${alias}.created_at, ${alias}.id`;
  const r = await q.query<R & { page_at: string }>(pagedStatement(list, page, params), params.values);
  return cutPage(r.rows, page, toItem);
}
