import { SqlParams } from '../db/params.js';
import { selectPage, type Page, type PageRequest } from '../page/page.js';
import { badRequest } from '../errors/knit-error.js';
import { LIMITS, overLimit } from '../limits/limits.js';
import type { Queryable, Tx } from '../db/pool.js';
import { appendOutbox } from '../outbox/db.js';
import { normalizeTags, tagsFromPairs, type Tag } from '../tags/tag.js';
import type { DataQuery, DataRecord, TagChange, Transient } from './model.js';
import { tagConditions } from './selectors.js';
import type { IdPrefix } from '../validation/id-prefix.js';

interface Row {
  id: string;
  created_at: Date;
  size: number | null;
  digest: string | null;
  blob_key: string | null;
  producer_run_id: string | null;
  producer_output: string | null;
  transient: Transient | null;
  tags: Array<[string, string]> | null;
}

export type StoredData = DataRecord & { blobKey: string | null };

const SELECT = `
SELECT d.id, d.created_at, d.size, d.digest, d.blob_key, d.producer_run_id, d.producer_output, d.transient,
  (SELECT json_agg(json_build_array(t.key, t.value) ORDER BY t.key, t.value)
     FROM data_tag t WHERE t.data_id = d.id) AS tags
FROM data d`;

function toRecord(r: Row): StoredData {
  return {
    id: r.id,
    createdAt: r.created_at,
    size: r.size,
    digest: r.digest,
    blobKey: r.blob_key,
    producerRunId: r.producer_run_id,
    producerOutput: r.producer_output,
    transient: r.transient,
    tags: tagsFromPairs(r.tags),
  };
}

export function blobKeyOf(dataId: string): string {
  return `data/${dataId}`;
}

export interface NewData {
  id: string;
  size: number;
  digest: string;
  blobKey: string;
  tags: readonly Tag[];
}

/** Registers an uploaded archive with its tags and an outbox event; call inside a transaction. */
export async function insertData(tx: Tx, d: NewData): Promise<DataRecord> {
  // Millisecond precision, so `knit#timestamp` round-trips exactly through its RFC3339 form.
  await tx.query(
    `INSERT INTO data (id, created_at, size, digest, blob_key)
     VALUES ($1, date_trunc('milliseconds', clock_timestamp()), $2, $3, $4)`,
    [d.id, d.size, d.digest, d.blobKey],
  );
  await insertTags(tx, d.id, d.tags);
  await appendOutbox(tx, 'data.created', d.id);
  return (await getData(tx, d.id))!;
}

async function insertTags(q: Queryable, id: string, tags: readonly Tag[]): Promise<void> {
  const norm = normalizeTags(tags);
  if (norm.length === 0) return;
  await q.query(
    `INSERT INTO data_tag (data_id, key, value)
     SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS x(k, v)
     ON CONFLICT DO NOTHING`,
    [id, norm.map((t) => t.key), norm.map((t) => t.value)],
  );
}

export async function getData(q: Queryable, id: string): Promise<StoredData | undefined> {
  const r = await q.query<Row>(`${SELECT} WHERE d.id = $1`, [id]);
  return r.rows[0] ? toRecord(r.rows[0]) : undefined;
}

/** Ids of Data starting with the prefix, at most `limit`, in id order (the primary key's range). */
export async function dataIdsWithPrefix(q: Queryable, prefix: IdPrefix, limit: number): Promise<string[]> {
  const r = await q.query<{ id: string }>('SELECT id FROM data WHERE id BETWEEN $1::uuid AND $2::uuid ORDER BY id LIMIT $3', [prefix.lo, prefix.hi, limit]);
  return r.rows.map((row) => row.id);
}

/** Data holding every tag of the query, in the time window, oldest first. */
function findConditions(query: DataQuery, params: SqlParams): string[] {
  const where = [tagConditions('d', query.tag, params)];
  if (query.since) {
    where.push(`d.created_at >= ${params.add(query.since)}`);
    if (query.duration !== undefined) where.push(`d.created_at < ${params.add(new Date(query.since.getTime() + query.duration))}`);
  }
  return where;
}

/** Every Data the query selects, oldest first. */
export async function findData(q: Queryable, query: DataQuery): Promise<StoredData[]> {
  const params = new SqlParams();
  const where = findConditions(query, params);
  const r = await q.query<Row>(`${SELECT} WHERE ${where.join(' AND ')} ORDER BY d.created_at, d.id`, params.values);
  return r.rows.map(toRecord);
}

/** One page of the Data the query selects, oldest first. */
export async function findDataPage(q: Queryable, query: DataQuery, page: PageRequest): Promise<Page<StoredData>> {
  const params = new SqlParams();
  return selectPage(q, { sql: SELECT, alias: 'd', where: findConditions(query, params), params }, page, toRecord);
}

/**
 * Applies a tag change: removals, then additions, under a row lock so concurrent changes to the
 * same Data serialize. Returns undefined when the Data does not exist.
 */
export async function changeTags(tx: Tx, id: string, change: TagChange): Promise<DataRecord | undefined> {
  const locked = await tx.query('SELECT 1 FROM data WHERE id = $1 FOR UPDATE', [id]);
  if (locked.rowCount === 0) return undefined;
  if (change.remove.length > 0) {
    await tx.query(
      `DELETE FROM data_tag t USING unnest($2::text[], $3::text[]) AS x(k, v)
       WHERE t.data_id = $1 AND t.key = x.k AND t.value = x.v`,
      [id, change.remove.map((t) => t.key), change.remove.map((t) => t.value)],
    );
  }
  if (change.removeKey.length > 0) {
    await tx.query('DELETE FROM data_tag WHERE data_id = $1 AND key = ANY($2::text[])', [id, change.removeKey]);
  }
  await insertTags(tx, id, change.add);
  // Checked on the result, inside the transaction: a change that would end over the bound is rolled back whole.
  const { n } = (await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM data_tag WHERE data_id = $1', [id])).rows[0]!;
  if (n > LIMITS.tagsPerData) throw badRequest('add', overLimit(LIMITS.tagsPerData, 'tags per Data', n));
  await appendOutbox(tx, 'data.tagged', id);
  return getData(tx, id);
}

/**
 * Blob keys under `data/` that no Data row references: leftovers of crashed uploads. An output an
 * agent has uploaded (attempt_upload) is referenced too: its Data gets the key only when the
 * attempt finishes, which may be long after the upload.
 */
export async function unreferencedKeys(q: Queryable, keys: readonly string[]): Promise<string[]> {
  if (keys.length === 0) return [];
  const r = await q.query<{ key: string }>(
    `SELECT k AS key FROM unnest($1::text[]) AS k
     WHERE NOT EXISTS (SELECT 1 FROM data d WHERE d.blob_key = k)
       AND NOT EXISTS (SELECT 1 FROM attempt_upload u WHERE u.blob_key = k)`,
    [keys],
  );
  return r.rows.map((x) => x.key);
}
