import { pipeline, Transform, type TransformCallback } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { getData } from '../../core/data/db.js';
import { abortableQueries } from '../../core/db/abortable.js';
import type { Queryable } from '../../core/db/pool.js';
import { KnitError, notFound } from '../../core/errors/knit-error.js';
import type { PlanRecord } from '../../core/plan/model.js';
import { RunQuery, type RunDetail } from '../../core/run/model.js';
import { findRuns, getRun } from '../../core/run/store.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import { clientGone } from '../client-gone.js';
import { idParam } from '../ids.js';
import type { ApiDeps } from '../server.js';
import type { LiveLogHub } from '../../core/run/live-log-hub.js';
import { streamRunLog } from '../services/run-log.js';
import { mustGetRun, removeRun, retry, stopRun } from '../services/runs.js';
import { goDurationParam } from './go-duration.js';
import { kfRun, type KfRunDetail } from '../../core/knitfab/run-detail.js';
import { UPLOAD_MOUNT, UPLOAD_RUN_PREFIX, uploadRunSummary } from './summaries.js';

const KfRunQuery = z
  .object({
    plan: z.string().optional(),
    knitIdInput: z.string().optional(),
    knitIdOutput: z.string().optional(),
    status: z.string().optional(),
    since: z.string().optional(),
    duration: z.string().optional(),
  })
  .strict();

const KfLogQuery = z.object({ follow: z.string().optional() }).strict();

/** knit's log lines (`<time> <stdout|stderr> <text>`) back to what the container wrote; knit's own notes dropped. */
class ContainerOutput extends Transform {
  private rest = '';
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const lines = (this.rest + chunk.toString('utf8')).split('\n');
    this.rest = lines.pop()!;
    done(null, lines.map(containerLine).join(''));
  }
  override _flush(done: TransformCallback): void {
    done(null, this.rest === '' ? '' : containerLine(this.rest));
  }
}

function containerLine(line: string): string {
  const m = /^\S+ (stdout|stderr) (.*)$/s.exec(line);
  return m ? `${m[2]}\n` : '';
}

const commaList = (v: string | undefined) => (v === undefined ? [] : v.split(',').map((s) => s.trim()).filter((s) => s !== ''));
const runIdOf = (params: unknown) => (params as { runId?: string }).runId ?? '';

/** Knitfab's run routes (docs/knitfab-compat.md 4.12, 4.13, 4.15 to 4.18) over knit's runs. */
export function registerKnitfabRunRoutes(app: FastifyInstance, deps: ApiDeps, liveLogs: LiveLogHub): void {
  /**
   * The log as Knitfab serves it: the container's own output, raw, without knit's time and
   * stream columns or its notes. `?follow` (no value needed) streams until the run ends.
   */
  app.get('/runs/:runId/log', { config: { takesQuery: true } }, async (req, reply) => {
    const q = parseOrThrow(KfLogQuery, req.query);
    const id = idParam({ id: runIdOf(req.params) }, 'run');
    const run = await mustGetRun(deps, id);
    if (run.status === 'invalidated') throw notFound('run', id);
    if (run.status === 'deactivated' || run.status === 'waiting' || run.status === 'ready') {
      throw new KnitError('unavailable', `run ${id} is ${run.status}: it has no log yet; retry once it has started`);
    }
    const gone = new AbortController();
    req.raw.once('close', () => gone.abort());
    const follow = q.follow !== undefined && q.follow !== 'false';
    const raw = pipeline(streamRunLog(deps, liveLogs, run, { follow, signal: gone.signal }), new ContainerOutput(), () => {});
    reply.raw.once('pipe', () => reply.raw.flushHeaders());
    return reply.type('application/octet-stream').send(raw);
  });

  app.get('/runs', { config: { takesQuery: true } }, async (req, reply) => {
    const q = parseOrThrow(KfRunQuery, req.query);
    const ms = goDurationParam(q.duration, 'duration');
    const duration = ms === undefined ? undefined : `${Math.ceil(ms / 1000)}s`;
    const query = parseOrThrow(RunQuery, {
      plan: commaList(q.plan),
      in: commaList(q.knitIdInput),
      out: commaList(q.knitIdOutput),
      status: commaList(q.status),
      ...(q.since !== undefined ? { since: q.since } : {}),
      ...(duration !== undefined ? { duration } : {}),
    });
    const queries = abortableQueries(deps.pool, clientGone(reply));
    const plans = new Map<string, PlanRecord | undefined>();
    const out: KfRunDetail[] = [];
    for (const r of await findRuns(queries, query)) out.push(await kfRun(queries, r, plans));
    return out;
  });

  app.get('/runs/:runId', async (req, reply) => {
    const raw = runIdOf(req.params);
    const queries = abortableQueries(deps.pool, clientGone(reply));
    // An upload is a run of the pseudo plan knit#uploaded, as Knitfab's lineage expects.
    if (raw.startsWith(UPLOAD_RUN_PREFIX)) {
      const dataId = idParam({ id: raw.slice(UPLOAD_RUN_PREFIX.length) }, 'run');
      const d = await getData(queries, dataId);
      if (!d || d.producerRunId !== null) throw notFound('run', raw);
      return { ...uploadRunSummary(d), inputs: [], outputs: [{ path: UPLOAD_MOUNT, tags: [], knitId: d.id }], log: null } satisfies KfRunDetail;
    }
    const id = idParam({ id: raw }, 'run');
    const run = await getRun(queries, id);
    if (!run) throw notFound('run', id);
    return kfRun(queries, run, new Map());
  });

  app.put('/runs/:runId/abort', async (req) => kfRun(deps.pool, (await stopRun(deps, idParam({ id: runIdOf(req.params) }, 'run'), true)).run, new Map()));
  app.put('/runs/:runId/tearoff', async (req) => kfRun(deps.pool, (await stopRun(deps, idParam({ id: runIdOf(req.params) }, 'run'), false)).run, new Map()));
  app.put('/runs/:runId/retry', async (req, reply) => {
    await retry(deps, idParam({ id: runIdOf(req.params) }, 'run'));
    // Knitfab answers a retry with an empty body.
    return reply.code(200).send();
  });
  app.delete('/runs/:runId', async (req, reply) => {
    const id = idParam({ id: runIdOf(req.params) }, 'run');
    await mustGetRun(deps, id);
    await removeRun(deps, id);
    return reply.code(204).send();
  });
}
