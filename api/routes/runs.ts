import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { readFileFromArchive } from '../../core/archive/read-file.js';
import { getData } from '../../core/data/db.js';
import { abortableQueries } from '../../core/db/abortable.js';
import { withTx } from '../../core/db/pool.js';
import { notFound } from '../../core/errors/knit-error.js';
import { invalidateRun, requestStop, retryRun } from '../../core/run/actions.js';
import { findRuns, getRun } from '../../core/run/store.js';
import { RunQuery, StopRequest, type RunDetail, type StopResult } from '../../core/run/model.js';
import { markStopDelivered } from '../../core/run/stop-delivery.js';
import { isTerminal } from '../../core/run/status.js';
import { timestampNanos } from '../../core/run/live-log.js';
import { readLiveLogChunks } from '../../core/run/live-log-db.js';
import type { LiveLogHub } from '../../core/run/live-log-hub.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import { DurationMs } from '../../core/validation/query.js';
import { clientGone } from '../client-gone.js';
import { idParam } from '../ids.js';
import type { ApiDeps } from '../server.js';

const POLL_MS = 300;
/** Live-log chunks read at once by a follower: at most 8 × 256 KiB in memory. */
const PAGE_CHUNKS = 8;
const LogQuery = z.object({ follow: z.enum(['true', 'false']).optional().transform((v) => v === 'true') }).strict();
const WaitQuery = z.object({ timeout: DurationMs.default(30_000).pipe(z.number().max(120_000, 'must be at most 2m')) }).strict();

export function registerRunRoutes(app: FastifyInstance, deps: ApiDeps, liveLogs: LiveLogHub): void {
  const mustGet = async (id: string): Promise<RunDetail> => {
    const run = await getRun(deps.pool, id);
    if (!run) throw notFound('run', id);
    return run;
  };

  app.get('/api/runs', { config: { takesQuery: true } }, async (req, reply) => {
    const query = parseOrThrow(RunQuery, req.query);
    return findRuns(abortableQueries(deps.pool, clientGone(reply)), query);
  });

  app.get('/api/runs/:id', async (req) => mustGet(idParam(req.params, 'run')));

  /** Long-polls until the run has finished or `timeout` passes; returns the run either way. */
  app.get('/api/runs/:id/wait', { config: { takesQuery: true } }, async (req) => {
    const id = idParam(req.params, 'run');
    const { timeout } = parseOrThrow(WaitQuery, req.query);
    const until = Date.now() + timeout;
    for (;;) {
      const run = await mustGet(id);
      if (isTerminal(run.status) || Date.now() >= until) return run;
      await sleep(POLL_MS);
    }
  });

  // The stop is recorded first, so it is never lost: if Temporal cannot be told now, the answer
  // is 202 (accepted, not yet acted on) and the matcher delivers it when Temporal is back.
  app.post('/api/runs/:id/stop', async (req, reply) => {
    const id = idParam(req.params, 'run');
    const { fail } = parseOrThrow(StopRequest, req.body ?? {});
    const mode = fail ? 'fail' : 'stop';
    await withTx(deps.pool, (tx) => requestStop(tx, id, fail));
    if (await deps.orchestrator.stopRun(id, mode)) {
      await markStopDelivered(deps.pool, id, mode);
      return mustGet(id);
    }
    const notice = `the stop is recorded, but Temporal cannot be reached now; it will reach run ${id} when Temporal is back`;
    return reply.code(202).send({ ...(await mustGet(id)), notice } satisfies StopResult);
  });

  app.post('/api/runs/:id/retry', async (req) => {
    const id = idParam(req.params, 'run');
    const stale = await withTx(deps.pool, (tx) => retryRun(tx, id));
    for (const key of stale) await deps.store.delete(key);
    deps.onChange('run.retried', id);
    return mustGet(id);
  });

  app.delete('/api/runs/:id', async (req) => {
    const id = idParam(req.params, 'run');
    const stale = await withTx(deps.pool, (tx) => invalidateRun(tx, id));
    for (const key of stale) await deps.store.delete(key);
    return mustGet(id);
  });

  /**
   * The run's log as text. While it runs, what the worker has stored so far (and, with follow,
   * more as it comes, pushed by the hub); once it has finished, the log Data it produced. While
   * the run is live, only the database is read, never object storage.
   */
  app.get('/api/runs/:id/log', { config: { takesQuery: true } }, async (req, reply) => {
    const id = idParam(req.params, 'run');
    const { follow } = parseOrThrow(LogQuery, req.query);
    let run = await mustGet(id);
    const out = new PassThrough();
    // Headers go out at once, not with the first line: a follower of a run that has written
    // nothing yet knows it is connected (Fastify pipes the body right after writing the head).
    reply.raw.once('pipe', () => reply.raw.flushHeaders());
    void reply.type('text/plain; charset=utf-8').send(out);
    const gone = new AbortController();
    req.raw.once('close', () => gone.abort());
    // Watching before the first read: a chunk written between a read and the wait is not missed.
    const watch = follow ? liveLogs.watch(id) : undefined;
    (async () => {
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
            if (!out.write(c.text)) await drained(out, gone.signal);
            if (gone.signal.aborted) return;
            seq = c.seq;
            if (c.lastTimestamp) last = timestampNanos(c.lastTimestamp) ?? last;
          }
          if (page.length < PAGE_CHUNKS) break;
        }
        if (isTerminal(run.status)) {
          await writeFinalLog(deps, run, out, last);
          break;
        }
        if (!watch || gone.signal.aborted) break;
        await watch.next(gone.signal);
        if (liveLogs.closed) throw new Error('knitd is shutting down; follow the log again');
        run = await mustGet(id);
      }
    })()
      .then(
        () => out.end(),
        (err: Error) => out.destroy(err),
      )
      .finally(() => watch?.close());
    return reply;
  });
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
  const content = await readFileFromArchive(await deps.store.get(data.blobKey), 'log');
  if (!content) return;
  const lines = content.toString('utf8').split('\n').filter((l) => l !== '');
  for (const line of lines) {
    const ts = lastTimestamp(line);
    if (after !== undefined && ts !== undefined && ts <= after && !/^\S+ knit /.test(line)) continue;
    out.write(`${line}\n`);
  }
}
