import { createHash } from 'node:crypto';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AgentTokenError, verifyAgentToken } from '../../core/agent/token.js';
import { ArchiveValidator } from '../../core/archive/validate.js';
import { blobKeyOf } from '../../core/data/db.js';
import { withTx, type Queryable } from '../../core/db/pool.js';
import { KnitError, badRequest } from '../../core/errors/knit-error.js';
import { recordUpload } from '../../core/run/uploads.js';
import type { RunStatus } from '../../core/run/status.js';
import { formatDigest } from '../../core/storage/digest.js';
import { isUuid } from '../../core/tags/tag.js';
import { MemoryRelief } from '../../core/streams/memory-relief.js';
import { storeArchiveBody } from '../archive-upload.js';
import { tooLarge } from '../byte-limit.js';
import type { ApiDeps } from '../server.js';

/**
 * The routes of knit's agent (agent/): a Kubernetes Pod's init container downloads the attempt's
 * inputs, its sidecar uploads the outputs. Authorised by a run-scoped agent token
 * (core/agent/token.ts), never by KNIT_TOKEN, and valid only while that attempt is the run's
 * current one.
 */

const BASE = '/api/agent/runs/:runId/attempts/:attempt';
/** The init container runs once the Pod is started: the run is starting or running. */
const DOWNLOAD_STATUSES: readonly RunStatus[] = ['starting', 'running'];
/**
 * The sidecar uploads after the user's container ended, by when the workflow may already have
 * marked the run completing or aborting while it waits in collect() for these uploads.
 */
const UPLOAD_STATUSES: readonly RunStatus[] = ['starting', 'running', 'completing', 'aborting'];
const MAX_PROBLEM_CHARS = 4000;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

interface Target {
  runId: string;
  attempt: number;
  idx: number;
}

function intParam(value: string, field: string, min: number): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < min) throw badRequest(field, `${JSON.stringify(value)} is not a whole number of at least ${min}`);
  return Number(value);
}

/** The route's target, once the token proves it may act for exactly that run and attempt. */
function authorize(req: FastifyRequest, secret: string | undefined): Target {
  if (secret === undefined) {
    throw new KnitError('not_found', 'the agent routes are disabled: knitd has no KNIT_AGENT_SECRET (set it to run on Kubernetes)');
  }
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (!m) throw new KnitError('unauthorized', 'missing agent token: send Authorization: Bearer <agent token>', { field: 'authorization' });
  let claims;
  try {
    claims = verifyAgentToken(secret, m[1]!.trim());
  } catch (err) {
    if (err instanceof AgentTokenError) throw new KnitError('unauthorized', `bad agent token: ${err.message}`, { field: 'authorization', details: { problem: err.problem } });
    throw err;
  }
  const p = req.params as { runId: string; attempt: string; idx: string };
  if (!isUuid(p.runId)) throw badRequest('runId', `${JSON.stringify(p.runId)} is not a run id (a UUID)`);
  const attempt = intParam(p.attempt, 'attempt', 1);
  const idx = intParam(p.idx, 'idx', 0);
  if (claims.runId !== p.runId || claims.attempt !== attempt) {
    throw new KnitError('forbidden', `the agent token is for run ${claims.runId} attempt ${claims.attempt}, not run ${p.runId} attempt ${attempt}`, { field: 'authorization' });
  }
  return { runId: p.runId, attempt, idx };
}

/** Refuses unless the attempt is the run's current one and the run is in one of `statuses`. */
async function checkAttempt(q: Queryable, t: Target, statuses: readonly RunStatus[], lock = ''): Promise<{ planId: string }> {
  const r = await q.query<{ status: RunStatus; attempt: number; plan_id: string }>(`SELECT status, attempt, plan_id FROM run WHERE id = $1 ${lock}`, [t.runId]);
  const run = r.rows[0];
  if (!run) throw new KnitError('not_found', `run ${t.runId} not found`, { field: 'runId' });
  if (run.attempt !== t.attempt) {
    throw new KnitError('conflict', `run ${t.runId} is at attempt ${run.attempt}; attempt ${t.attempt} is over`, { details: { attempt: run.attempt } });
  }
  if (!statuses.includes(run.status)) {
    throw new KnitError('conflict', `run ${t.runId} is ${run.status}; its agent may act only while it is ${statuses.join(' or ')}`, { details: { status: run.status } });
  }
  return { planId: run.plan_id };
}

/** The agent's own report, percent-encoded by it so any text survives an HTTP header. */
function problemOf(req: FastifyRequest): string | null {
  const raw = req.headers['x-knit-problem'];
  if (raw === undefined) return null;
  const text = Array.isArray(raw) ? raw.join(', ') : raw;
  let decoded: string;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    decoded = text;
  }
  decoded = decoded.trim();
  if (decoded === '') throw badRequest('x-knit-problem', 'is empty; leave the header out when there is no problem');
  return decoded.length > MAX_PROBLEM_CHARS ? `${decoded.slice(0, MAX_PROBLEM_CHARS)}…` : decoded;
}

/**
 * The last stage of an upload before storage: hashes what passed and, once the request has ended
 * (its trailers are in), compares with the agent's `x-knit-digest` trailer and runs `also`. A
 * failure fails the body stream, so the all-or-nothing put keeps nothing.
 */
class TrailerCheck extends Transform {
  private readonly hash = createHash('sha256');
  constructor(
    private readonly trailer: () => string | undefined,
    private readonly also: () => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const claimed = this.trailer();
    const actual = formatDigest(this.hash.digest('hex'));
    if (claimed === undefined || !DIGEST.test(claimed)) {
      return cb(badRequest('x-knit-digest', 'the upload must end with an x-knit-digest: sha256:<hex> trailer (send the body chunked with Trailer: x-knit-digest)'));
    }
    if (claimed !== actual) {
      return cb(new KnitError('unprocessable', `body: the agent sent ${claimed} but knitd received ${actual}; nothing was kept`, { field: 'x-knit-digest', details: { sent: claimed, received: actual } }));
    }
    try {
      this.also();
    } catch (err) {
      return cb(err as Error);
    }
    cb();
  }
}

export function registerAgentRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const secret = deps.config.agentSecret;
  const opts = { config: { agentAuth: true } };

  app.get(`${BASE}/inputs/:idx`, opts, async (req, reply) => {
    const t = authorize(req, secret);
    await checkAttempt(deps.pool, t, DOWNLOAD_STATUSES);
    const r = await deps.pool.query<{ data_id: string; blob_key: string | null; digest: string | null; size: number | null }>(
      'SELECT d.id AS data_id, d.blob_key, d.digest, d.size FROM run_input ri JOIN data d ON d.id = ri.data_id WHERE ri.run_id = $1 AND ri.idx = $2',
      [t.runId, t.idx],
    );
    const d = r.rows[0];
    if (!d) throw new KnitError('not_found', `run ${t.runId} has no input ${t.idx}`, { field: 'idx' });
    if (d.blob_key === null || d.digest === null || d.size === null) throw new KnitError('conflict', `input ${t.idx} (data ${d.data_id}) has no content yet`);
    const source = pipeline(await deps.store.get(d.blob_key), new MemoryRelief(), () => {});
    return reply
      .header('content-type', 'application/x-tar')
      .header('content-length', String(d.size))
      .header('x-knit-digest', d.digest)
      .header('x-knit-data', d.data_id)
      .send(source);
  });

  app.put(`${BASE}/outputs/:idx`, opts, async (req, reply) => {
    const t = authorize(req, secret);
    const { planId } = await checkAttempt(deps.pool, t, UPLOAD_STATUSES);
    const out = await deps.pool.query<{ data_id: string; transient: string | null }>(
      `SELECT d.id AS data_id, d.transient FROM plan_output po
       JOIN data d ON d.producer_run_id = $1 AND d.producer_output = po.path
       WHERE po.plan_id = $2 AND po.idx = $3`,
      [t.runId, planId, t.idx],
    );
    const o = out.rows[0];
    if (!o) throw new KnitError('not_found', `run ${t.runId} has no output ${t.idx}`, { field: 'idx' });
    if (o.transient !== 'processing') throw new KnitError('conflict', `output ${t.idx} (data ${o.data_id}) is already stored`);
    const problem = problemOf(req);
    const limit = deps.config.maxDataBytes;
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > limit) throw tooLarge(limit);

    const key = blobKeyOf(o.data_id);
    const validator = new ArchiveValidator();
    const check = new TrailerCheck(
      () => {
        const v = req.raw.trailers['x-knit-digest'];
        return typeof v === 'string' ? v.trim() : undefined;
      },
      () => {
        const s = validator.stats;
        if (problem !== null && s.files + s.directories + s.symlinks + s.hardlinks > 0) {
          throw badRequest('x-knit-problem', 'an upload that reports a problem must be an empty archive');
        }
      },
    );
    const stored = await storeArchiveBody(req, deps.store, key, { limit, checks: [validator, check], sender: 'agent' });
    // Recorded only if the attempt is still current: a sidecar of an attempt that was given up
    // meanwhile must not hand its outputs to the next one.
    await withTx(deps.pool, async (tx) => {
      await checkAttempt(tx, t, UPLOAD_STATUSES, 'FOR SHARE');
      await recordUpload(tx, { runId: t.runId, attempt: t.attempt, idx: t.idx, dataId: o.data_id, size: stored.size, digest: stored.digest, blobKey: key, problem });
    });
    req.log.info({ runId: t.runId, attempt: t.attempt, idx: t.idx, dataId: o.data_id, size: stored.size, entries: validator.stats, problem }, 'agent upload stored');
    return reply.code(200).send({ size: stored.size, digest: stored.digest, problem });
  });
}
