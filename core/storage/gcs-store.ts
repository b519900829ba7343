import { ApiError, type Bucket } from '@google-cloud/storage';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertValidKey, BlobNotFoundError, type BlobEntry, type BlobInfo, type BlobStore } from './blob-store.js';
import { Digester, formatDigest } from './digest.js';

const notFound = (err: unknown) => err instanceof ApiError && err.code === 404;

/**
 * Data archives and logs as objects of one Google Cloud Storage bucket, under a prefix. An
 * object is written by a resumable upload, which GCS makes visible only when it is finalised:
 * an interrupted put never shows, and a put over an existing key replaces it whole or not at all.
 */
export class GcsBlobStore implements BlobStore {
  readonly kind = 'gcs';
  readonly signedUrl?: (key: string, ttlSeconds: number) => Promise<string>;

  constructor(
    private readonly bucket: Bucket,
    /** '' or a folder-like prefix ending in '/'. */
    private readonly prefix: string,
    opts: { signedUrls?: boolean } = {},
  ) {
    if (prefix !== '' && !prefix.endsWith('/')) throw new Error(`KNIT_GCS_PREFIX: must be empty or end with '/', got ${JSON.stringify(prefix)}`);
    // V4 signing, done by the SDK with the credentials' private key (or IAM signBlob without
    // one). The URL points at the Storage's endpoint, so at an emulator when one is configured.
    if (opts.signedUrls) {
      this.signedUrl = async (key, ttlSeconds) => {
        const [url] = await this.object(key).getSignedUrl({ version: 'v4', action: 'read', expires: Date.now() + ttlSeconds * 1000 });
        return url;
      };
    }
  }

  private object(key: string) {
    assertValidKey(key);
    return this.bucket.file(this.prefix + key);
  }

  async put(key: string, body: Readable, opts: { signal?: AbortSignal } = {}): Promise<BlobInfo> {
    const digester = new Digester();
    // The SDK checks its own CRC32C of what it sent; knit's digest is SHA-256 of the same bytes.
    const sink = this.object(key).createWriteStream({ resumable: true, contentType: 'application/octet-stream' });
    await pipeline(body, digester, sink, opts.signal ? { signal: opts.signal } : {});
    return { key, size: digester.size, digest: formatDigest(digester.sha256) };
  }

  async get(key: string): Promise<Readable> {
    const file = this.object(key);
    // Asked first: a read stream of a missing object fails only once read, as a generic error.
    if (!(await this.stat(key))) throw new BlobNotFoundError(key);
    return file.createReadStream();
  }

  async stat(key: string): Promise<BlobEntry | undefined> {
    try {
      const [meta] = await this.object(key).getMetadata();
      return { key, size: Number(meta.size ?? 0), modified: new Date(meta.updated ?? meta.timeCreated ?? 0) };
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.object(key).delete({ ignoreNotFound: true });
  }

  async *list(prefix: string): AsyncIterable<BlobEntry> {
    let pageToken: string | undefined;
    do {
      const [files, next] = await this.bucket.getFiles({ prefix: this.prefix + prefix, autoPaginate: false, maxResults: 1000, ...(pageToken ? { pageToken } : {}) });
      for (const f of files) {
        yield { key: f.name.slice(this.prefix.length), size: Number(f.metadata.size ?? 0), modified: new Date(f.metadata.updated ?? f.metadata.timeCreated ?? 0) };
      }
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
    } while (pageToken);
  }

  /** An unfinished resumable upload is never an object, and GCS drops its session within a week: nothing to sweep. */
  async sweepIncomplete(_before: Date): Promise<number> {
    return 0;
  }

  /** Object storage has no folders. */
  async *emptyFolders(_prefix: string): AsyncIterable<string> {}

  async removeEmptyFolder(_folder: string, _prefix: string): Promise<void> {}
}
