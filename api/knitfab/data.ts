import { createHash } from 'node:crypto';
import { PassThrough, pipeline, Transform, type TransformCallback } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ArchiveValidator } from '../../core/archive/validate.js';
import { findData } from '../../core/data/db.js';
import { DataQuery, TagChange, type DataRecord } from '../../core/data/model.js';
import { abortableQueries } from '../../core/db/abortable.js';
import type { Queryable } from '../../core/db/pool.js';
import { badRequest } from '../../core/errors/knit-error.js';
import { getRuns, runsReadingAny } from '../../core/run/store.js';
import { getPlans } from '../../core/plan/db.js';
import { mountTags } from '../../core/knitfab/run-detail.js';
import type { RunDetail } from '../../core/run/model.js';
import { formatTag } from '../../core/tags/tag.js';
import { systemTags } from '../../core/data/model.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import { ByteLimit } from '../byte-limit.js';
import { clientGone } from '../client-gone.js';
import { idParam } from '../ids.js';
import type { ApiDeps } from '../server.js';
import { changeDataTags, registerUpload, storedArchive } from '../services/data.js';
import { writeKnitfabTar } from './archive.js';
import { goDurationParam } from './go-duration.js';
import { kfRunSummary, UPLOAD_MOUNT, uploadRunSummary } from './summaries.js';
import { KfTagChange, type KfDataDetail } from './shapes.js';

/** What Knitfab's CLI uploads: a gzip'd tar, checked by an MD5 of the gzip bytes in a trailer. */
const TAR_GZIP = 'application/tar+gzip';
const MD5_TRAILER = 'x-checksum-md5';

/** The MD5 of the bytes passing through, known once they have all passed. */
class Md5Tap extends Transform {
  private readonly hash = createHash('md5');
  hex: string | undefined;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    this.hex = this.hash.digest('hex');
    done();
  }
}

/** Passes everything through, then, before the store commits, compares the MD5 with the trailer. */
class TrailerCheck extends Transform {
  constructor(private readonly check: () => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    try {
      this.check();
      done();
    } catch (err) {
      done(err as Error);
    }
  }
}

const KfDataQuery = z
  .object({
    tag: z.union([z.string(), z.array(z.string())]).optional(),
    since: z.string().optional(),
    duration: z.string().optional(),
  })
  .strict();

/**
 * Knitfab's Data routes (docs/knitfab-compat.md, 4.1 to 4.4) over knit's Data: the same rows,
 * tags and blobs as /api/data, in Knitfab's shapes and archive form.
 */
export function registerKnitfabDataRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.addContentTypeParser(TAR_GZIP, (_req, _payload, done) => done(null));

  app.post('/data', async (req, reply) => {
    if (String(req.headers['content-type'] ?? '').split(';')[0]!.trim() !== TAR_GZIP) {
      throw badRequest('content-type', `must be ${TAR_GZIP}: the body is a gzip'd tar of the directory`);
    }
    const md5 = new Md5Tap();
    const validator = new ArchiveValidator();
    const trailer = new TrailerCheck(() => {
      const sent = req.raw.trailers[MD5_TRAILER];
      // Knitfab ignores a missing trailer; a wrong one is refused before anything is kept.
      if (sent !== undefined && sent.trim().toLowerCase() !== md5.hex) {
        throw badRequest(MD5_TRAILER, `hash is not match: the body's MD5 is ${md5.hex}, the trailer says ${sent}`);
      }
    });
    // The limit holds for the archive as stored (after gunzip) too, so a small gzip bomb cannot fill the store.
    const checks = [md5, createGunzip(), new ByteLimit(deps.config.maxDataBytes), validator, trailer];
    const record = await registerUpload(deps, req, { checks, tags: [], log: () => ({ entries: validator.stats, via: 'knitfab' }) });
    return reply.code(200).send(await kfData(deps.pool, record));
  });

  app.put('/data/:knitId', async (req) => {
    const id = idParam({ id: (req.params as { knitId?: string }).knitId }, 'Data');
    const body = parseOrThrow(KfTagChange, req.body ?? {});
    const change = parseOrThrow(TagChange, { add: body.add ?? [], remove: body.remove ?? [], removeKey: body.remove_key ?? [] });
    return kfData(deps.pool, await changeDataTags(deps, id, change));
  });

  app.get('/data/:knitId', async (req, reply) => {
    const id = idParam({ id: (req.params as { knitId?: string }).knitId }, 'Data');
    const { blobKey, digest, size } = await storedArchive(deps.pool, id);
    const tar = new PassThrough();
    const md5 = new Md5Tap();
    // Gzip in the body, not as Content-Encoding: Go would undo that and hand the CLI a bare tar.
    const body = pipeline(tar, createGzip(), md5, () => {});
    writeKnitfabTar(() => deps.store.get(blobKey), { digest, size }, tar).then(
      () => tar.end(),
      (err: Error) => {
        req.log.warn({ err, dataId: id }, 'download for the Knitfab API failed; the connection is cut so the client sees it');
        tar.destroy(err);
      },
    );
    return reply
      .header('content-type', TAR_GZIP)
      .trailer(MD5_TRAILER, async () => md5.hex ?? '')
      .send(body);
  });

  app.get('/data', { config: { takesQuery: true } }, async (req, reply) => {
    const q = parseOrThrow(KfDataQuery, req.query);
    const tags = q.tag === undefined ? [] : Array.isArray(q.tag) ? q.tag : [q.tag];
    const durationMs = goDurationParam(q.duration, 'duration');
    const query = parseOrThrow(DataQuery, { tag: tags, ...(q.since !== undefined ? { since: q.since } : {}) });
    if (durationMs !== undefined) {
      if (query.since === undefined) throw badRequest('duration', 'needs since: the window is [since, since + duration)');
      query.duration = durationMs;
    }
    const db = abortableQueries(deps.pool, clientGone(reply));
    return kfDataList(db, await findData(db, query));
  });
}

/**
 * Data in Knitfab's shape: their tags, the run each came from (an upload's pseudo run), and the
 * runs that read them, each link with its mount's path and its plan's tags for it. Three queries
 * whatever the number of Data (producers, readers, their plans), not a few per Data.
 */
async function kfDataList(q: Queryable, found: readonly DataRecord[]): Promise<KfDataDetail[]> {
  const producerIds = found.flatMap((d) => (d.producerRunId === null ? [] : [d.producerRunId]));
  const [producers, readers] = await Promise.all([getRuns(q, producerIds), runsReadingAny(q, found.map((d) => d.id))]);
  const plans = new Map((await getPlans(q, [...producers, ...readers].map((r) => r.plan.id))).map((p) => [p.id, p]));
  const producerOf = new Map(producers.map((r) => [r.id, r]));
  const readersOf = new Map<string, Array<{ run: RunDetail; path: string }>>();
  for (const r of readers) {
    if (r.status === 'invalidated') continue;
    for (const i of r.inputs) {
      const list = readersOf.get(i.dataId) ?? [];
      list.push({ run: r, path: i.path });
      readersOf.set(i.dataId, list);
    }
  }
  return found.map((d) => {
    const producer = d.producerRunId === null ? undefined : producerOf.get(d.producerRunId);
    const plan = producer && plans.get(producer.plan.id);
    let upstream: KfDataDetail['upstream'];
    if (producer === undefined) {
      upstream = { run: uploadRunSummary(d), mountpoint: { path: UPLOAD_MOUNT, tags: [] } };
    } else if (d.producerOutput === 'log') {
      upstream = { run: kfRunSummary(producer), log: { tags: (plan?.logTags ?? []).map(formatTag) } };
    } else {
      upstream = { run: kfRunSummary(producer), mountpoint: { path: d.producerOutput ?? '', tags: mountTags(plan?.outputs, d.producerOutput ?? '') } };
    }
    const downstreams = (readersOf.get(d.id) ?? []).map(({ run, path }) => ({
      mountpoint: { path, tags: mountTags(plans.get(run.plan.id)?.inputs, path) },
      run: kfRunSummary(run),
    }));
    return { knitId: d.id, tags: [...systemTags(d), ...d.tags].map(formatTag), upstream, downstreams, nomination: [] };
  });
}

async function kfData(q: Queryable, d: DataRecord): Promise<KfDataDetail> {
  return (await kfDataList(q, [d]))[0]!;
}
