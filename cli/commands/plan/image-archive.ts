import type { Readable } from 'node:stream';
import { z } from 'zod';
import { TarFormatError } from '../../../core/archive/tar-format.js';
import { TarReader } from '../../../core/archive/tar-reader.js';
import { chunksOf } from '../../../core/streams/chunks.js';

/**
 * What `plan template -i` needs from a `docker save` archive: each image's tags and the parts of
 * its config that say how it runs. The archive is read once, as a stream: layers (which may be
 * gigabytes) pass through, and only small JSON entries are kept, because which entry is an
 * image's config is only known from manifest.json, which may come after it.
 */

/** One image of the archive. */
export interface ArchivedImage {
  repoTags: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  volumes: string[];
}

export class ImageArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageArchiveError';
  }
}

// manifest.json of `docker save` (both the legacy and the OCI layout write it).
const Manifest = z.array(
  z.object({
    Config: z.string(),
    RepoTags: z.array(z.string()).nullish(),
  }),
);

// The image config JSON; only the fields a plan is made from.
const ImageConfig = z.object({
  config: z
    .object({
      Entrypoint: z.array(z.string()).nullish(),
      Cmd: z.array(z.string()).nullish(),
      WorkingDir: z.string().nullish(),
      Volumes: z.record(z.string(), z.unknown()).nullish(),
    })
    .nullish(),
});

// Configs and manifests are kilobytes; a JSON-looking entry beyond this is not one of them.
const MAX_JSON_ENTRY = 4 << 20;
// Bound on all kept entries together, so a crafted archive cannot make the CLI hold gigabytes.
const MAX_JSON_TOTAL = 64 << 20;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;

/** The images of a `docker save` archive read from `source` (`name` says where it came from). */
export async function readImageArchive(source: Readable, name: string): Promise<ArchivedImage[]> {
  const kept = new Map<string, Buffer>();
  let total = 0;
  let current: { path: string; chunks: Buffer[]; size: number; json: boolean | undefined } | undefined;
  const reader = new TarReader({
    entry: (h) => {
      current = h.type === 'file' ? { path: h.path.replace(/^\.\//, ''), chunks: [], size: 0, json: undefined } : undefined;
    },
    data: (chunk) => {
      if (!current || current.json === false) return;
      // Decide from the entry's first byte whether it may be JSON; layers are tar or gzip.
      if (current.json === undefined) current.json = chunk.length > 0 && (chunk[0] === OPEN_BRACE || chunk[0] === OPEN_BRACKET);
      if (!current.json) return;
      current.size += chunk.length;
      total += chunk.length;
      if (current.size > MAX_JSON_ENTRY) {
        // Too big to be a config: forget it (a config it would need is reported missing below).
        total -= current.size;
        current.json = false;
        current.chunks = [];
        return;
      }
      if (total > MAX_JSON_TOTAL) throw new ImageArchiveError(`${name}: holds more than ${MAX_JSON_TOTAL >> 20} MiB of JSON entries; it is not a docker save archive`);
      current.chunks.push(Buffer.from(chunk));
    },
    entryEnd: () => {
      if (current?.json) kept.set(current.path, Buffer.concat(current.chunks));
      current = undefined;
    },
  });
  try {
    for await (const chunk of chunksOf(source)) await reader.write(chunk);
    reader.end();
  } catch (err) {
    if (err instanceof TarFormatError) throw new ImageArchiveError(`${name}: not a docker save archive (${err.message})`);
    throw err;
  }

  const manifestText = kept.get('manifest.json');
  if (manifestText === undefined) throw new ImageArchiveError(`${name}: has no manifest.json; write it with docker save IMAGE:TAG > FILE`);
  const manifest = parseJson(Manifest, manifestText, `${name}: manifest.json`);
  if (manifest.length === 0) throw new ImageArchiveError(`${name}: manifest.json lists no image`);
  return manifest.map((m) => {
    const configText = kept.get(m.Config.replace(/^\.\//, ''));
    if (configText === undefined) throw new ImageArchiveError(`${name}: manifest.json names the config ${m.Config}, which the archive does not hold`);
    const c = parseJson(ImageConfig, configText, `${name}: ${m.Config}`).config ?? {};
    return {
      repoTags: m.RepoTags ?? [],
      entrypoint: c.Entrypoint ?? [],
      cmd: c.Cmd ?? [],
      workingDir: c.WorkingDir ?? '',
      volumes: Object.keys(c.Volumes ?? {}),
    };
  });
}

function parseJson<S extends z.ZodType>(schema: S, text: Buffer, what: string): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw new ImageArchiveError(`${what} is not JSON: ${(err as Error).message}`);
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ImageArchiveError(`${what}: ${issue?.path.join('.') || 'the document'}: ${issue?.message ?? 'unexpected shape'}`);
  }
  return r.data;
}
