import { Readable } from 'node:stream';
import tarStream from 'tar-stream';

export type CraftedEntry =
  | { name: string; type: 'file'; content: string; mode?: number }
  | { name: string; type: 'directory'; mode?: number }
  | { name: string; type: 'symlink' | 'link'; linkname: string }
  | { name: string; type: 'fifo' | 'character-device' };

/** Builds a tar archive by hand, including entries no honest packer would write. */
export async function craftTar(entries: CraftedEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (e.type === 'file') pack.entry({ name: e.name, type: 'file', mode: e.mode ?? 0o644 }, e.content, cb);
      else if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory', mode: e.mode ?? 0o755 }, cb);
      else if (e.type === 'symlink' || e.type === 'link') pack.entry({ name: e.name, type: e.type, linkname: e.linkname }, cb);
      else pack.entry({ name: e.name, type: e.type }, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function streamOf(buf: Buffer): Readable {
  return Readable.from([buf]);
}
