import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { abortableQueries } from '../../core/db/abortable.js';
import { RunListQuery, StopRequest, type StopResult } from '../../core/run/model.js';
import { isTerminal } from '../../core/run/status.js';
import type { LiveLogHub } from '../../core/run/live-log-hub.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import { DurationMs } from '../../core/validation/query.js';
import { clientGone } from '../client-gone.js';
import type { ApiDeps } from '../server.js';
import { runActivity, streamRunLog, type RunActivity } from '../services/run-log.js';
import { sseStream, type ServerSentEvent } from '../sse.js';
import { listRuns, mustGetRun, removeRun, retry, stopRun } from '../services/runs.js';
import { sendPage } from '../pagination.js';
import { pageRequest } from '../../core/page/page.js';
import { resolveIdParam } from '../services/ids.js';

const flag = z.enum(['true', 'false']).optional().transform((v) => v === 'true');
const LogQuery = z.object({ follow: flag }).strict();
const EventsQuery = z.object({ log: flag }).strict();
const WaitQuery = z.object({ timeout: DurationMs.default(30_000).pipe(z.number().max(120_000, 'must be at most 2m')) }).strict();

// An id or a unique prefix of one (api/services/ids.ts).
const runId = (deps: ApiDeps, params: unknown) => resolveIdParam(deps.pool, 'run', params);

export function registerRunRoutes(app: FastifyInstance, deps: ApiDeps, liveLogs: LiveLogHub): void {
  const mustGet = (id: string) => mustGetRun(deps, id);

  app.get('/api/runs', { config: { takesQuery: true } }, async (req, reply) => {
    const { limit, after, ...query } = parseOrThrow(RunListQuery, req.query);
    return sendPage(req, reply, await listRuns(abortableQueries(deps.pool, clientGone(reply)), query, pageRequest({ limit, after })));
  });

  app.get('/api/runs/:id', async (req) => mustGet(await runId(deps, req.params)));

  /**
   * Long-polls until the run has finished or `timeout` passes; returns the run either way. Woken
   * by the run's change notifications (the hub), not by reading it over and over.
   */
  app.get('/api/runs/:id/wait', { config: { takesQuery: true } }, async (req) => {
    const id = await runId(deps, req.params);
    const { timeout } = parseOrThrow(WaitQuery, req.query);
    const gone = new AbortController();
    req.raw.once('close', () => gone.abort());
    const timer = setTimeout(() => gone.abort(), timeout);
    const watch = liveLogs.watch(id);
    try {
      for (;;) {
        const run = await mustGet(id);
        if (isTerminal(run.status) || gone.signal.aborted || liveLogs.closed) return run;
        await watch.next(gone.signal);
      }
    } finally {
      clearTimeout(timer);
      watch.close();
    }
  });

  /**
   * The run's changes, pushed as Server-Sent Events: `run` (the run, at once and after each
   * change of it), with `log=true` also `log` ({text}, the log as it comes, as /log serves it),
   * then `end` once the run has ended and its log is out. What `knit run wait`, `knit run log -f`
   * and the console follow.
   */
  app.get('/api/runs/:id/events', { config: { takesQuery: true } }, async (req, reply) => {
    const id = await runId(deps, req.params);
    const { log } = parseOrThrow(EventsQuery, req.query);
    const first = await mustGet(id);
    const gone = new AbortController();
    req.raw.once('close', () => gone.abort());
    const body = sseStream(runEvents(runActivity(deps, liveLogs, first, { follow: true, signal: gone.signal }), log), gone.signal);
    reply.raw.once('pipe', () => reply.raw.flushHeaders());
    void reply.type('text/event-stream; charset=utf-8').header('cache-control', 'no-cache').header('x-accel-buffering', 'no').send(body);
    return reply;
  });

  // The stop is recorded first, so it is never lost: if Temporal cannot be told now, the answer
  // is 202 (accepted, not yet acted on) and the matcher delivers it when Temporal is back.
  app.post('/api/runs/:id/stop', async (req, reply) => {
    const id = await runId(deps, req.params);
    const { fail } = parseOrThrow(StopRequest, req.body ?? {});
    const { run, delivered } = await stopRun(deps, id, fail);
    if (delivered) return run;
    const notice = `the stop is recorded, but Temporal cannot be reached now; it will reach run ${id} when Temporal is back`;
    return reply.code(202).send({ ...run, notice } satisfies StopResult);
  });

  app.post('/api/runs/:id/retry', async (req) => retry(deps, await runId(deps, req.params)));

  app.delete('/api/runs/:id', async (req) => removeRun(deps, await runId(deps, req.params)));

  /**
   * The run's log as text. While it runs, what the worker has stored so far (and, with follow,
   * more as it comes, pushed by the hub); once it has finished, the log Data it produced. While
   * the run is live, only the database is read, never object storage.
   */
  app.get('/api/runs/:id/log', { config: { takesQuery: true } }, async (req, reply) => {
    const id = await runId(deps, req.params);
    const { follow } = parseOrThrow(LogQuery, req.query);
    const run = await mustGet(id);
    const gone = new AbortController();
    req.raw.once('close', () => gone.abort());
    const out = streamRunLog(deps, liveLogs, run, { follow, signal: gone.signal });
    // Headers go out at once, not with the first line: a follower of a run that has written
    // nothing yet knows it is connected (Fastify pipes the body right after writing the head).
    reply.raw.once('pipe', () => reply.raw.flushHeaders());
    void reply.type('text/plain; charset=utf-8').send(out);
    return reply;
  });
}

/** Run activity as events; the log left out unless asked for. */
async function* runEvents(activity: AsyncIterable<RunActivity>, withLog: boolean): AsyncGenerator<ServerSentEvent> {
  let last: RunActivity | undefined;
  for await (const a of activity) {
    if (a.kind === 'run') yield { event: 'run', data: a.run };
    else if (withLog) yield { event: 'log', data: { text: a.text } };
    if (a.kind === 'run') last = a;
  }
  // The activity ends by itself only once the run has ended and its log is out.
  if (last?.kind === 'run' && isTerminal(last.run.status)) yield { event: 'end', data: last.run };
}
