import type { Readable } from 'node:stream';
import { chunksOf } from '../streams/chunks.js';
import { TarReader } from './tar-reader.js';

/** The content of one regular file of an archive (by its path inside it), or undefined. */
export async function readFileFromArchive(archive: Readable, path: string, maxBytes = 64 << 20): Promise<Buffer | undefined> {
  let capturing = false;
  let found: Buffer[] | undefined;
  let size = 0;
  const reader = new TarReader({
    entry: (h) => {
      capturing = h.type === 'file' && h.path.replace(/^\.\//, '') === path;
      if (capturing) found = [];
    },
    data: (chunk) => {
      if (!capturing) return;
      size += chunk.length;
      if (size > maxBytes) throw new Error(`${path} is larger than ${maxBytes} bytes`);
      found!.push(Buffer.from(chunk));
    },
    entryEnd: () => {
      capturing = false;
    },
  });
  for await (const chunk of chunksOf(archive)) await reader.write(chunk);
  reader.end();
  return found ? Buffer.concat(found) : undefined;
}
