import type { Pool } from '../db/pool.js';
import type { BlobEntry, BlobStore } from '../storage/blob-store.js';
import { unreferencedKeys } from './db.js';

export interface GcResult {
  incompleteUploads: number;
  orphanObjects: number;
}

/**
 * Removes what interrupted uploads left behind: partial objects, and complete objects whose
 * database transaction never committed. Anything younger than `graceMs` is left alone, because
 * another API replica may be in the middle of that very upload.
 */
export async function collectGarbage(pool: Pool, store: BlobStore, graceMs: number): Promise<GcResult> {
  const before = new Date(Date.now() - graceMs);
  const incompleteUploads = await store.sweepIncomplete(before);
  let orphanObjects = 0;
  let batch: BlobEntry[] = [];
  const flush = async () => {
    const orphans = await unreferencedKeys(pool, batch.map((e) => e.key));
    for (const key of orphans) await store.delete(key);
    orphanObjects += orphans.length;
    batch = [];
  };
  for await (const entry of store.list('data/')) {
    if (entry.modified >= before) continue;
    batch.push(entry);
    if (batch.length >= 500) await flush();
  }
  await flush();
  return { incompleteUploads, orphanObjects };
}
