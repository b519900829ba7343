import type { Readable } from 'node:stream';
import { chunksOf } from '../streams/chunks.js';
import { TarReader } from './tar-reader.js';

/** The content of one regular file of an archive (by its path inside it), or undefined. */
export async function readFileFromArchive(archive: Readable, path: string, maxBytes = 64 << 20): Promise<Buffer | undefined> {
  return (await readFilesFromArchive(archive, [path], maxBytes)).get(path);
}

/** The contents of some regular files of an archive, read in one pass; a path not in it is absent from the map. */
export async function readFilesFromArchive(archive: Readable, paths: readonly string[], maxBytes = 64 << 20): Promise<Map<string, Buffer>> {
  const wanted = new Set(paths);
  const found = new Map<string, Buffer>();
  let current: { path: string; chunks: Buffer[]; size: number } | undefined;
  const reader = new TarReader({
    entry: (h) => {
      const path = h.path.replace(/^\.\//, '');
      current = h.type === 'file' && wanted.has(path) ? { path, chunks: [], size: 0 } : undefined;
    },
    data: (chunk) => {
      if (!current) return;
      current.size += chunk.length;
      if (current.size > maxBytes) throw new Error(`${current.path} is larger than ${maxBytes} bytes`);
      current.chunks.push(Buffer.from(chunk));
    },
    entryEnd: () => {
      if (current) found.set(current.path, Buffer.concat(current.chunks));
      current = undefined;
    },
  });
  for await (const chunk of chunksOf(archive)) await reader.write(chunk);
  reader.end();
  return found;
}
