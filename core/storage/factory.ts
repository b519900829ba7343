import { Storage } from '@google-cloud/storage';
import { storageDir, type ServerEnv } from '../config/config.js';
import type { BlobStore } from './blob-store.js';
import { GcsBlobStore } from './gcs-store.js';
import { LocalBlobStore } from './local-store.js';

type StorageEnv = Pick<ServerEnv, 'KNIT_HOME' | 'KNIT_STORAGE_DIR' | 'KNIT_STORAGE' | 'KNIT_GCS_BUCKET' | 'KNIT_GCS_PREFIX' | 'KNIT_GCS_ENDPOINT' | 'KNIT_GCS_PROJECT'> &
  Partial<Pick<ServerEnv, 'KNIT_GCS_SIGNED_URLS'>>;

/** The one place the blob store is chosen (KNIT_STORAGE) and built, for the API and the worker alike. */
export function openBlobStore(env: StorageEnv): BlobStore {
  switch (env.KNIT_STORAGE) {
    case 'local':
      return new LocalBlobStore(storageDir(env));
    case 'gcs': {
      if (!env.KNIT_GCS_BUCKET) throw new Error('KNIT_GCS_BUCKET: must be set with KNIT_STORAGE=gcs, to the bucket that holds knit\'s Data');
      // Credentials as every Google client finds them (GOOGLE_APPLICATION_CREDENTIALS, the metadata server).
      const storage = new Storage({ ...(env.KNIT_GCS_ENDPOINT ? { apiEndpoint: env.KNIT_GCS_ENDPOINT } : {}), ...(env.KNIT_GCS_PROJECT ? { projectId: env.KNIT_GCS_PROJECT } : {}) });
      return new GcsBlobStore(storage.bucket(env.KNIT_GCS_BUCKET), env.KNIT_GCS_PREFIX, { signedUrls: env.KNIT_GCS_SIGNED_URLS ?? false });
    }
  }
}
