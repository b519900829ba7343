import { pipeline, type Readable, type Transform } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { UnsafeEntryError } from '../core/archive/entry-rules.js';
import { MalformedArchiveError } from '../core/archive/validate.js';
import { KnitError } from '../core/errors/knit-error.js';
import type { BlobInfo, BlobStore } from '../core/storage/blob-store.js';
import { MemoryRelief } from '../core/streams/memory-relief.js';
import { ByteLimit } from './byte-limit.js';

function uploadError(err: unknown): unknown {
  if (err instanceof KnitError) return err;
  if (err instanceof UnsafeEntryError) return new KnitError('bad_request', `body: ${err.message}`, { field: 'body', details: { entry: err.entryPath } });
  if (err instanceof MalformedArchiveError) return new KnitError('bad_request', `body: ${err.message}`, { field: 'body' });
  // zlib's errors, for a compressed body (Knitfab's tar+gzip upload) that is not gzip or is cut short.
  if (typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).code!.startsWith('Z_')) return new KnitError('bad_request', `body: is not a whole gzip stream: ${(err as Error).message}`, { field: 'body' });
  return err;
}

/**
 * Streams a request's archive body into the blob store under `key`, through a byte limit and
 * `checks` (the archive validator, and whatever else must pass before the put commits). The
 * store's put is all-or-nothing, so a failed check or a dropped client leaves nothing; the
 * archive's faults come back as 400s naming the body.
 */
export async function storeArchiveBody(req: FastifyRequest, store: BlobStore, key: string, opts: { limit: number; checks: Transform[]; sender: string }): Promise<BlobInfo> {
  const limiter = new ByteLimit(opts.limit);
  const body = pipeline([limiter, new MemoryRelief(), ...opts.checks], () => {}) as unknown as Readable;
  // Not pipeline(req.raw, …): a failed upload must not destroy the request, whose socket still
  // has to carry the error answer.
  req.raw.pipe(limiter);
  req.raw.once('error', (err) => limiter.destroy(err));
  req.raw.once('close', () => {
    if (!req.raw.complete) limiter.destroy(new Error(`the ${opts.sender} closed the connection mid-upload`));
  });
  try {
    return await store.put(key, body);
  } catch (err) {
    req.raw.unpipe(limiter);
    throw uploadError(err);
  }
}
