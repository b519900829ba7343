import { PassThrough, type Readable } from 'node:stream';
import { readFilesFromArchive } from '../../core/archive/read-file.js';
import { getData } from '../../core/data/db.js';
import { drained } from '../../core/streams/drained.js';
import { timestampNanos } from '../../core/run/live-log.js';
import { readLiveLogChunks } from '../../core/run/live-log-db.js';
import type { LiveLogHub } from '../../core/run/live-log-hub.js';
import type { RunDetail } from '../../core/run/model.js';
import { knitLogLines, LOG_FILE, LOG_INDEX_FILE } from '../../core/run/stored-log.js';
import { isTerminal } from '../../core/run/status.js';
import type { ApiDeps } from '../server.js';
import { mustGetRun } from './runs.js';

const PAGE_CHUNKS = 8;

/** What a follower of a run is told: the run as it is now (first, and after each change), and its log text as it comes. */
export type RunActivity = { kind: 'run'; run: RunDetail } | { kind: 'log'; text: string };

/**
 * A run's log as knit shows it (`<time> <stream> <text>` lines, and knit's own notes), and with
 * `follow` its changes, for any API to serve: while it runs, what the worker has stored so far
 * (and more as it comes, pushed by the hub); once it has finished, the log Data it produced.
 * While the run is live, only the database is read, never object storage. A generator, so it
 * reads no further than its consumer has written: a long log is never all in memory. Ends when
 * the run has ended and its log is out, or (without follow) after what is stored now, or when
 * `signal` aborts.
 */
export async function* runActivity(
  deps: ApiDeps,
  liveLogs: LiveLogHub,
  first: RunDetail,
  opts: { follow: boolean; signal: AbortSignal },
): AsyncGenerator<RunActivity> {
  const id = first.id;
  const gone = opts.signal;
  // Watching before the first read: a chunk written between a read and the wait is not missed.
  const watch = opts.follow ? liveLogs.watch(id) : undefined;
  try {
    let run = first;
    let shown = '';
    let attempt = run.attempt;
    let seq = -1;
    let last: bigint | undefined;
    for (;;) {
      const now = JSON.stringify(run);
      if (now !== shown) yield { kind: 'run', run };
      shown = now;
      // A retried run starts a new attempt, with a log of its own.
      if (run.attempt !== attempt) [attempt, seq, last] = [run.attempt, -1, undefined];
      // Paged: chunks are deleted once the run has finished; the final log covers the rest.
      for (;;) {
        const page = await readLiveLogChunks(deps.pool, id, attempt, seq, PAGE_CHUNKS);
        for (const c of page) {
          yield { kind: 'log', text: c.text };
          if (gone.aborted) return;
          seq = c.seq;
          if (c.lastTimestamp) last = timestampNanos(c.lastTimestamp) ?? last;
        }
        if (page.length < PAGE_CHUNKS) break;
      }
      if (isTerminal(run.status)) {
        for await (const line of finalLogLines(deps, run, last)) yield { kind: 'log', text: `${line}\n` };
        return;
      }
      if (!watch || gone.aborted) return;
      await watch.next(gone);
      if (gone.aborted) return;
      if (liveLogs.closed) throw new Error('knitd is shutting down; follow the run again');
      run = await mustGetRun(deps, id);
    }
  } finally {
    watch?.close();
  }
}

/** The run's log as a text stream (GET /api/runs/:id/log): the log part of runActivity. */
export function streamRunLog(deps: ApiDeps, liveLogs: LiveLogHub, first: RunDetail, opts: { follow: boolean; signal: AbortSignal }): Readable {
  const out = new PassThrough();
  (async () => {
    for await (const a of runActivity(deps, liveLogs, first, opts)) {
      if (a.kind === 'log' && !out.write(a.text)) await drained(out, opts.signal);
    }
  })().then(
    () => out.end(),
    (err: Error) => out.destroy(err),
  );
  return out;
}

function lastTimestamp(line: string | undefined): bigint | undefined {
  return line ? timestampNanos(line.slice(0, line.indexOf(' '))) : undefined;
}

/** The lines of a finished run's stored log Data after those already sent from the live log. */
async function* finalLogLines(deps: ApiDeps, run: RunDetail, after: bigint | undefined): AsyncGenerator<string> {
  if (!run.log.dataId) return;
  const data = await getData(deps.pool, run.log.dataId);
  if (!data?.blobKey) return;
  const files = await readFilesFromArchive(await deps.store.get(data.blobKey), [LOG_FILE, LOG_INDEX_FILE]);
  const log = files.get(LOG_FILE);
  if (!log) return;
  for (const line of knitLogLines(log.toString('utf8'), files.get(LOG_INDEX_FILE)?.toString('utf8'))) {
    const ts = lastTimestamp(line);
    if (after !== undefined && ts !== undefined && ts <= after && !/^\S+ knit /.test(line)) continue;
    yield line;
  }
}
