import type { SqlParams } from '../db/params.js';
import { TAG_ID, TAG_TIMESTAMP, normalizeTags, type Tag } from '../tags/tag.js';

/**
 * SQL for "Data `alias` holds every one of these tags", shared by `find`, plan previews and
 * the matcher, so that they can never disagree on what an input takes. Values go into `params`;
 * the returned fragment is ANDed into a WHERE clause.
 *
 * The statement text does not grow with the number of tags: user tags travel as two arrays and
 * are matched by counting, in one index scan, how many of them each Data holds. (One EXISTS per
 * tag made planning time explode: 2 s for 100 tags.) `knit#id` and `knit#timestamp` are columns,
 * so they are compared with the column; two different ids (or instants) select nothing.
 */
export function tagConditions(alias: string, tags: readonly Tag[], params: SqlParams): string {
  const ids = new Set<string>();
  const instants = new Set<number>();
  const user: Tag[] = [];
  for (const t of normalizeTags(tags)) {
    if (t.key === TAG_ID) ids.add(t.value);
    else if (t.key === TAG_TIMESTAMP) instants.add(Date.parse(t.value));
    else user.push(t);
  }
  if (ids.size > 1 || instants.size > 1) return 'FALSE';
  const parts: string[] = [];
  for (const id of ids) parts.push(`${alias}.id = ${params.add(id)}::uuid`);
  for (const ms of instants) parts.push(`${alias}.created_at = ${params.add(new Date(ms))}::timestamptz`);
  if (user.length > 0) {
    // normalizeTags removed duplicates and data_tag holds each (data, key, value) once, so
    // "holds all n" is "n of them match".
    parts.push(
      `${alias}.id IN (SELECT t.data_id FROM data_tag t
         JOIN unnest(${params.add(user.map((x) => x.key))}::text[], ${params.add(user.map((x) => x.value))}::text[]) AS want(key, value)
           ON t.key = want.key AND t.value = want.value
         GROUP BY t.data_id HAVING count(*) = ${params.add(user.length)})`,
    );
  }
  return parts.length === 0 ? 'TRUE' : parts.join(' AND ');
}

/** Only Data that is complete and not from a failed run may be an input. */
export function eligible(alias: string): string {
  return `${alias}.transient IS NULL`;
}
