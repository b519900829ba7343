import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Page } from '../core/page/page.js';

/**
 * Answers one page of a list: the body stays the array it always was, and when there is more, a
 * `Link: <same path and query, after=cursor>; rel="next"` header (RFC 8288, as GitHub's API does)
 * says where the next page is. A client follows it until no such header comes.
 */
export function sendPage<T>(req: FastifyRequest, reply: FastifyReply, page: Page<T>): T[] {
  if (page.next !== undefined) {
    const url = new URL(req.url, 'http://knit.invalid');
    url.searchParams.set('after', page.next);
    reply.header('link', `<${url.pathname}${url.search}>; rel="next"`);
  }
  return page.items;
}
