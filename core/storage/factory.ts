import { storageDir, type ServerEnv } from '../config/config.js';
import type { BlobStore } from './blob-store.js';
import { LocalBlobStore } from './local-store.js';

/** The one place the blob store is chosen and built, for the API and the worker alike. */
export function openBlobStore(env: Pick<ServerEnv, 'KNIT_HOME' | 'KNIT_STORAGE_DIR'>): BlobStore {
  return new LocalBlobStore(storageDir(env));
}
