import { Transform, type TransformCallback } from 'node:stream';
import { formatBytes } from '../core/config/units.js';
import { KnitError } from '../core/errors/knit-error.js';

export function tooLarge(limit: number): KnitError {
  return new KnitError('payload_too_large', `body: the upload is larger than the server's limit of ${formatBytes(limit)} (KNIT_MAX_DATA_BYTES)`, {
    field: 'body',
    details: { limitBytes: limit },
  });
}

/** Fails the stream as soon as more than `limit` bytes have passed. */
export class ByteLimit extends Transform {
  private seen = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) cb(tooLarge(this.limit));
    else cb(null, chunk);
  }
}
