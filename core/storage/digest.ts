import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export const DIGEST_PREFIX = 'sha256:';

export function formatDigest(hex: string): string {
  return `${DIGEST_PREFIX}${hex}`;
}

/** A pass-through that hashes and counts what flows through it. */
export class Digester extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private hex: string | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.hex = this.hash.digest('hex');
    cb();
  }

  get size(): number {
    return this.bytes;
  }

  /** The sha256 in hex; only valid once the stream has ended. */
  get sha256(): string {
    if (this.hex === undefined) throw new Error('digest read before the stream ended');
    return this.hex;
  }
}

export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
    readonly expectedSize: number | undefined,
    readonly actualSize: number,
  ) {
    super(
      `content digest mismatch: expected ${expected}${expectedSize === undefined ? '' : ` (${expectedSize} bytes)`}, ` +
        `got ${actual} (${actualSize} bytes); the stored object is corrupt or was truncated in transit`,
    );
    this.name = 'DigestMismatchError';
  }
}

/** Checks bytes against an expected `sha256:<hex>` and size, fed chunk by chunk. */
export class DigestCheck {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  constructor(
    private readonly expected: string,
    private readonly expectedSize?: number,
  ) {}
  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }
  /** Throws DigestMismatchError unless everything fed matches. */
  finish(): void {
    const actual = formatDigest(this.hash.digest('hex'));
    if (actual !== this.expected || (this.expectedSize !== undefined && this.expectedSize !== this.bytes)) {
      throw new DigestMismatchError(this.expected, actual, this.expectedSize, this.bytes);
    }
  }
}

/**
 * A pass-through that fails at the end of the stream unless the bytes hash to `expected`
 * (`sha256:<hex>`). The last chunk is held back until the digest is known, so a consumer that
 * finishes cleanly has only ever received verified content.
 */
export class VerifyingStream extends Transform {
  private readonly check: DigestCheck;
  private held: Buffer | undefined;

  constructor(expected: string, expectedSize?: number) {
    super();
    this.check = new DigestCheck(expected, expectedSize);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.check.update(chunk);
    const prev = this.held;
    this.held = chunk;
    cb(null, prev);
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.check.finish();
    } catch (err) {
      cb(err as Error);
      return;
    }
    if (this.held) this.push(this.held);
    cb();
  }
}
