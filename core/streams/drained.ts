import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** Until `out` takes more, or `gone` aborts (the client has left: nobody will read the rest). */
export async function drained(out: Writable, gone: AbortSignal): Promise<void> {
  await once(out, 'drain', { signal: gone }).catch(() => {});
}
