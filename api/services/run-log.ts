import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { readFilesFromArchive } from '../../core/archive/read-file.js';
import { getData } from '../../core/data/db.js';
import { timestampNanos } from '../../core/run/live-log.js';
import { readLiveLogChunks } from '../../core/run/live-log-db.js';
import type { LiveLogHub } from '../../core/run/live-log-hub.js';
import type { RunDetail } from '../../core/run/model.js';
import { knitLogLines, LOG_FILE, LOG_INDEX_FILE } from '../../core/run/stored-log.js';
import { isTerminal } from '../../core/run/status.js';
import type { ApiDeps } from '../server.js';
import { mustGetRun } from './runs.js';

const PAGE_CHUNKS = 8;

/**
 * A run's log as knit shows it (`<time> <stream> <text>` lines, and knit's own notes), for any
 * API to serve: while it runs, what the worker has stored so far (and, with follow, more as it
 * comes, pushed by the hub); once it has finished, the log Data it produced. While the run is
 * live, only the database is read, never object storage. Ends when `signal` aborts.
 */
export function streamRunLog(deps: ApiDeps, liveLogs: LiveLogHub, first: RunDetail, opts: { follow: boolean; signal: AbortSignal }): Readable {
  const id = first.id;
  const out = new PassThrough();
  const gone = opts.signal;
  // Watching before the first read: a chunk written between a read and the wait is not missed.
  const watch = opts.follow ? liveLogs.watch(id) : undefined;
  (async () => {
    let run = first;
    let attempt = run.attempt;
    let seq = -1;
    let last: bigint | undefined;
    for (;;) {
      // A retried run starts a new attempt, with a log of its own.
      if (run.attempt !== attempt) [attempt, seq, last] = [run.attempt, -1, undefined];
      // Paged, and written as the client takes it: a long log is never all in memory. Chunks
      // are deleted once the run has finished; the final log covers the rest.
      for (;;) {
        const page = await readLiveLogChunks(deps.pool, id, attempt, seq, PAGE_CHUNKS);
        for (const c of page) {
          if (!out.write(c.text)) await drained(out, gone);
          if (gone.aborted) return;
          seq = c.seq;
          if (c.lastTimestamp) last = timestampNanos(c.lastTimestamp) ?? last;
        }
        if (page.length < PAGE_CHUNKS) break;
      }
      if (isTerminal(run.status)) {
        await writeFinalLog(deps, run, out, last);
        break;
      }
      if (!watch || gone.aborted) break;
      await watch.next(gone);
      if (liveLogs.closed) throw new Error('knitd is shutting down; follow the log again');
      run = await mustGetRun(deps, id);
    }
  })()
    .then(
      () => out.end(),
      (err: Error) => out.destroy(err),
    )
    .finally(() => watch?.close());
  return out;
}

/** Until `out` takes more, or the client has gone. */
async function drained(out: PassThrough, gone: AbortSignal): Promise<void> {
  await once(out, 'drain', { signal: gone }).catch(() => {});
}

function lastTimestamp(line: string | undefined): bigint | undefined {
  return line ? timestampNanos(line.slice(0, line.indexOf(' '))) : undefined;
}

/** The stored log Data of a finished run, after the lines already sent from the live log. */
async function writeFinalLog(deps: ApiDeps, run: RunDetail, out: PassThrough, after: bigint | undefined): Promise<void> {
  if (!run.log.dataId) return;
  const data = await getData(deps.pool, run.log.dataId);
  if (!data?.blobKey) return;
  const files = await readFilesFromArchive(await deps.store.get(data.blobKey), [LOG_FILE, LOG_INDEX_FILE]);
  const log = files.get(LOG_FILE);
  if (!log) return;
  for (const line of knitLogLines(log.toString('utf8'), files.get(LOG_INDEX_FILE)?.toString('utf8'))) {
    const ts = lastTimestamp(line);
    if (after !== undefined && ts !== undefined && ts <= after && !/^\S+ knit /.test(line)) continue;
    out.write(`${line}\n`);
  }
}
