import type { SqlParams } from '../db/params.js';
import { TAG_ID, TAG_TIMESTAMP, normalizeTags, type Tag } from '../tags/tag.js';

/**
 * SQL for "Data `alias` holds every one of these tags", shared by `find`, plan previews and
 * the matcher, so that they can never disagree on what an input takes. Values go into `params`;
 * the returned fragment is ANDed into a WHERE clause.
 */
export function tagConditions(alias: string, tags: readonly Tag[], params: SqlParams): string {
  const parts: string[] = [];
  for (const t of normalizeTags(tags)) {
    if (t.key === TAG_ID) parts.push(`${alias}.id = ${params.add(t.value)}::uuid`);
    else if (t.key === TAG_TIMESTAMP) parts.push(`${alias}.created_at = ${params.add(new Date(t.value))}::timestamptz`);
    else parts.push(`EXISTS (SELECT 1 FROM data_tag t WHERE t.data_id = ${alias}.id AND t.key = ${params.add(t.key)} AND t.value = ${params.add(t.value)})`);
  }
  return parts.length === 0 ? 'TRUE' : parts.join(' AND ');
}

/** Only Data that is complete and not from a failed run may be an input. */
export function eligible(alias: string): string {
  return `${alias}.transient IS NULL`;
}
