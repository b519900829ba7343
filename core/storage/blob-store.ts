import type { Readable } from 'node:stream';

export interface BlobInfo {
  readonly key: string;
  readonly size: number;
  /** `sha256:<hex>` of the stored bytes. */
  readonly digest: string;
}

export interface BlobEntry {
  readonly key: string;
  readonly size: number;
  readonly modified: Date;
}

/**
 * Where Data archives and logs live. Implementations: a local folder, Google Cloud Storage.
 *
 * `put` is all-or-nothing: the object becomes visible under `key` only when every byte is
 * durable; if `body` fails or `signal` aborts, nothing remains under `key`.
 */
export interface BlobStore {
  readonly kind: string;
  put(key: string, body: Readable, opts?: { signal?: AbortSignal }): Promise<BlobInfo>;
  /** Streams the object. Rejects with BlobNotFoundError when absent. */
  get(key: string): Promise<Readable>;
  stat(key: string): Promise<BlobEntry | undefined>;
  /** Idempotent: deleting a missing object succeeds. */
  delete(key: string): Promise<void>;
  list(prefix: string): AsyncIterable<BlobEntry>;
  /** Removes leftovers of interrupted `put`s started before `before`; returns how many. */
  sweepIncomplete(before: Date): Promise<number>;
  /**
   * Folders under `prefix` that hold nothing, as keys ending in '/'. Stores without folders
   * (object stores) yield none.
   */
  emptyFolders(prefix: string): AsyncIterable<string>;
  /** Removes `folder` (a key ending in '/') and then its parents up to `prefix`, while they are empty. */
  removeEmptyFolder(folder: string, prefix: string): Promise<void>;
  /**
   * An optional capability, present only on stores that can sign and are configured to: a URL
   * from which anyone holding it may GET the object's bytes for `ttlSeconds`, without knitd in
   * the path. It says nothing of the object's content; whoever reads it still checks the digest.
   */
  readonly signedUrl?: (key: string, ttlSeconds: number) => Promise<string>;
}

export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`object ${key} not found in blob storage`);
    this.name = 'BlobNotFoundError';
  }
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

/** Keys are plain relative paths: no `..`, no leading slash, nothing a filesystem could misread. */
export function assertValidKey(key: string): void {
  if (!KEY.test(key) || key.split('/').some((s) => s === '.' || s === '..')) {
    throw new Error(`invalid blob key ${JSON.stringify(key)}`);
  }
}
