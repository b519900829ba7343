import { pipeline } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { ArchiveValidator } from '../../core/archive/validate.js';
import { ACCEPT_REDIRECT, ContentRequestHeaders, DIGEST_HEADER, SIZE_HEADER } from '../../core/data/content-redirect.js';
import { getData } from '../../core/data/db.js';
import { DataListQuery, TagChange, toDataDetail, UploadQuery } from '../../core/data/model.js';
import { abortableQueries } from '../../core/db/abortable.js';
import { badRequest, notFound } from '../../core/errors/knit-error.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import { MemoryRelief } from '../../core/streams/memory-relief.js';
import { clientGone } from '../client-gone.js';
import type { ApiDeps } from '../server.js';
import { changeDataTags, listData, registerUpload, storedArchive } from '../services/data.js';
import { sendPage } from '../pagination.js';
import { pageRequest } from '../../core/page/page.js';
import { resolveIdParam } from '../services/ids.js';

const TAR_TYPES = ['application/x-tar', 'application/octet-stream'];

// An id or a unique prefix of one (api/services/ids.ts).
const dataId = (deps: ApiDeps, params: unknown) => resolveIdParam(deps.pool, 'data', params);

/**
 * How long a signed URL stays valid. The store checks it when the client's GET starts, not while
 * the bytes flow, so it need only outlast the redirect; short, so a leaked URL soon opens nothing.
 */
const SIGNED_URL_TTL_SECONDS = 300;

export function registerDataRoutes(app: FastifyInstance, deps: ApiDeps): void {
  // The archive is streamed by the handler itself, never buffered by a body parser.
  app.addContentTypeParser(TAR_TYPES, (_req, _payload, done) => done(null));

  app.post('/api/data', { config: { takesQuery: true } }, async (req, reply) => {
    if (!TAR_TYPES.includes(String(req.headers['content-type'] ?? '').split(';')[0]!.trim())) {
      throw badRequest('content-type', 'must be application/x-tar: the body is a tar archive of the directory');
    }
    const { tag } = parseOrThrow(UploadQuery, req.query);
    const validator = new ArchiveValidator();
    const record = await registerUpload(deps, req, { checks: [validator], tags: tag, log: () => ({ entries: validator.stats }) });
    return reply.code(201).send(toDataDetail(record));
  });

  app.get('/api/data', { config: { takesQuery: true } }, async (req, reply) => {
    const { limit, after, ...query } = parseOrThrow(DataListQuery, req.query);
    return sendPage(req, reply, await listData(abortableQueries(deps.pool, clientGone(reply)), query, pageRequest({ limit, after })));
  });

  app.get('/api/data/:id', async (req) => {
    const id = await dataId(deps, req.params);
    const d = await getData(deps.pool, id);
    if (!d) throw notFound('data', id);
    return toDataDetail(d);
  });

  app.get('/api/data/:id/content', async (req, reply) => {
    const id = await dataId(deps, req.params);
    const wants = parseOrThrow(ContentRequestHeaders, { [ACCEPT_REDIRECT]: req.headers[ACCEPT_REDIRECT] })[ACCEPT_REDIRECT];
    const d = await storedArchive(deps.pool, id);
    // Only a client that asked gets a redirect, and only from a store that signs; the digest and
    // size come from knit's own record, so the client verifies the store's bytes against them.
    if (wants !== undefined && deps.store.signedUrl) {
      const url = await deps.store.signedUrl(d.blobKey, SIGNED_URL_TTL_SECONDS);
      return reply
        .code(307)
        .header('location', url)
        .header(DIGEST_HEADER, d.digest)
        .header(SIZE_HEADER, String(d.size))
        .header('cache-control', 'no-store')
        .send();
    }
    const source = pipeline(await deps.store.get(d.blobKey), new MemoryRelief(), () => {});
    // The digest travels in a header and the reader verifies the bytes end to end, which covers
    // storage and network at once; hashing here as well would only double the CPU cost.
    return reply
      .header('content-type', 'application/x-tar')
      .header('content-length', String(d.size))
      .header(DIGEST_HEADER, d.digest)
      .header('content-disposition', `attachment; filename="${id}.tar"`)
      .send(source);
  });

  app.put('/api/data/:id/tags', async (req) => {
    const id = await dataId(deps, req.params);
    const change = parseOrThrow(TagChange, req.body ?? {});
    return toDataDetail(await changeDataTags(deps, id, change));
  });
}
