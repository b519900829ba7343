import { randomUUID } from 'node:crypto';
import type { Transform } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { blobKeyOf, changeTags, findDataPage, getData, insertData } from '../../core/data/db.js';
import { toDataDetail, type DataDetail, type DataQuery, type DataRecord, type TagChange } from '../../core/data/model.js';
import type { Page, PageRequest } from '../../core/page/page.js';
import { withTx, type Queryable } from '../../core/db/pool.js';
import { conflict, notFound } from '../../core/errors/knit-error.js';
import type { Tag } from '../../core/tags/tag.js';
import { storeArchiveBody } from '../archive-upload.js';
import { tooLarge } from '../byte-limit.js';
import type { ApiDeps } from '../server.js';

/** What registering and reading Data's archives means, whichever API is asked. */

/** One page of the Data a find selects, as the API shows them. */
export async function listData(queries: Queryable, query: DataQuery, page: PageRequest): Promise<Page<DataDetail>> {
  const found = await findDataPage(queries, query, page);
  return { ...found, items: found.items.map(toDataDetail) };
}

/**
 * Streams an uploaded archive (through `checks`, which end with knit's archive validator) into
 * the blob store and registers it as new Data with `tags`. Nothing is kept unless both the blob
 * and the row are: a row that cannot be written takes its blob with it.
 */
export async function registerUpload(
  deps: ApiDeps,
  req: FastifyRequest,
  opts: { checks: Transform[]; tags: readonly Tag[]; log?: () => Record<string, unknown> },
): Promise<DataRecord> {
  const limit = deps.config.maxDataBytes;
  if (Number(req.headers['content-length'] ?? NaN) > limit) throw tooLarge(limit);
  const id = randomUUID();
  const key = blobKeyOf(id);
  const stored = await storeArchiveBody(req, deps.store, key, { limit, checks: opts.checks, sender: 'client' });
  let record: DataRecord;
  try {
    record = await withTx(deps.pool, (tx) => insertData(tx, { id, size: stored.size, digest: stored.digest, blobKey: key, tags: opts.tags }));
  } catch (err) {
    await deps.store.delete(key).catch(() => {});
    throw err;
  }
  req.log.info({ dataId: id, size: stored.size, ...opts.log?.() }, 'data registered');
  deps.onChange('data.created', id);
  return record;
}

/** A Data's stored archive: 404 when there is no such Data, 409 while its run still writes it. */
export async function storedArchive(q: Queryable, id: string): Promise<{ blobKey: string; digest: string; size: number }> {
  const d = await getData(q, id);
  if (!d) throw notFound('data', id);
  if (d.blobKey === null || d.digest === null || d.size === null) {
    throw conflict(`data ${id} is still being written by run ${d.producerRunId ?? '?'}; pull it once the run has finished`, { runId: d.producerRunId });
  }
  return { blobKey: d.blobKey, digest: d.digest, size: d.size };
}

/** Removes, then adds, a Data's tags in one transaction (`PUT` of either API); 404 for no such Data. */
export async function changeDataTags(deps: ApiDeps, id: string, change: TagChange): Promise<DataRecord> {
  const d = await withTx(deps.pool, (tx) => changeTags(tx, id, change));
  if (!d) throw notFound('data', id);
  deps.onChange('data.tagged', id);
  return d;
}
