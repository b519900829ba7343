import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { extractArchive } from '../core/archive/extract.js';
import { DigestMismatchError, VerifyingStream } from '../core/storage/digest.js';
import { FetchEnv, readEnv } from './env.js';
import { log } from './log.js';
import { cutShort, get, isTransient, withRetries } from './transport.js';

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Clears what an interrupted try left, so the next one extracts into an empty folder again. */
async function emptyFolder(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
}

/**
 * Downloads one input and extracts it into `dir`. The bytes are checked against knitd's size and
 * digest as they stream (the extractor never sees the last chunk of a mismatching archive, so it
 * cannot finish on bad data), and the archive's entries against knit's Data rules.
 */
async function fetchOne(env: FetchEnv, idx: number, dir: string): Promise<void> {
  const url = `${env.KNIT_AGENT_URL}/api/agent/runs/${env.KNIT_RUN}/attempts/${env.KNIT_ATTEMPT}/inputs/${idx}`;
  const what = `input ${idx}`;
  await withRetries(what, { tries: env.KNIT_AGENT_TRIES, backoffMs: env.KNIT_AGENT_BACKOFF_MS }, async () => {
    await emptyFolder(dir);
    const res = await get(url, env.KNIT_AGENT_TOKEN, what);
    const digest = String(res.headers['x-knit-digest'] ?? '');
    const size = Number(res.headers['content-length']);
    if (!DIGEST.test(digest) || !Number.isSafeInteger(size)) {
      res.destroy();
      throw new Error(`${what}: knitd sent no valid x-knit-digest and content-length headers (got ${JSON.stringify(digest)}, ${JSON.stringify(res.headers['content-length'])})`);
    }
    const verified = new VerifyingStream(digest, size);
    // A response cut short ends without an error of its own: its own completeness says so.
    res.once('end', () => {
      if (!res.complete) verified.destroy(cutShort(what));
    });
    res.once('error', (err) => verified.destroy(err));
    res.once('aborted', () => verified.destroy(cutShort(what)));
    // The extractor reads it only after checking its folder: an error before then (a small
    // archive failing its digest) must wait for it in the stream, not crash the process.
    verified.on('error', () => {});
    res.pipe(verified);
    try {
      const stats = await extractArchive(verified, dir);
      log(`${what}: ${size} bytes, ${stats.files} files, ${stats.contentBytes} bytes of content into ${dir}`);
    } catch (err) {
      res.destroy();
      if (err instanceof DigestMismatchError) throw new Error(`${what}: ${err.message}`);
      if (isTransient(err)) throw err;
      throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
    }
  });
}

/** `fetch`: every input, in order; the first failure ends it. `keep` calls it first too. */
export async function fetchInputs(env: FetchEnv = readEnv(FetchEnv)): Promise<void> {
  for (const { idx, dir } of env.KNIT_INPUTS) await fetchOne(env, idx, dir);
  log(`fetched ${env.KNIT_INPUTS.length} input(s)`);
}
