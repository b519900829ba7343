import { Transform, type TransformCallback } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Streamed bodies are gigabytes of short-lived Buffers. Their wrappers are tiny, so V8's young
 * generation rarely fills and the large backing stores pile up until an external-memory limit
 * forces a full collection: tens of MB of garbage per transfer. A minor collection every few
 * MiB frees them early for about a millisecond each, and keeps a server's memory flat.
 */
let collect: ((opts: { type: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void) | undefined;
try {
  setFlagsFromString('--expose-gc');
  collect = runInNewContext('gc') as typeof collect;
} catch {
  collect = undefined;
}

const EVERY = 8 << 20;

/** Returns a counter to call with each chunk's size; every 8 MiB it asks for a minor collection. */
export function memoryRelief(): (bytes: number) => void {
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since >= EVERY) {
      since = 0;
      collect?.({ type: 'minor' });
    }
  };
}

/** The same, as a pass-through stream. */
export class MemoryRelief extends Transform {
  private readonly relieve = memoryRelief();
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.relieve(chunk.length);
    cb(null, chunk);
  }
}
