import type { FastifyInstance } from 'fastify';
import { badRequest } from '../core/errors/knit-error.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route parses its query string with a strict schema; routes without it take none. */
    takesQuery?: boolean;
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Two checks on every query string, before any handler: each parameter's name and value must be
 * valid UTF-8 once percent-decoded (the querystring decoder turns bad bytes into U+FFFD, which
 * would store a tag nobody sent), and a route that takes no parameters refuses any (ignoring
 * them would answer as if the caller had asked for something else). Routes that take
 * parameters refuse unknown ones through their strict schemas.
 */
export function registerQueryChecks(app: FastifyInstance): void {
  app.addHook('onRequest', async (req) => {
    const url = req.raw.url ?? '';
    const q = url.indexOf('?');
    if (q < 0) return;
    const params = rawParams(url.slice(q + 1));
    for (const { name, value } of params) {
      const decodedName = decodeUtf8(name);
      if (decodedName === undefined) throw badRequest('query', `a query parameter name is not valid UTF-8 once percent-decoded: ${JSON.stringify(name.slice(0, 60))}`);
      const decodedValue = decodeUtf8(value);
      if (decodedValue === undefined) throw badRequest(decodedName, 'is not valid UTF-8 once percent-decoded');
      // PostgreSQL text cannot hold NUL; no parameter means anything with one.
      if (decodedValue.includes('\0') || decodedName.includes('\0')) throw badRequest(decodedName.replace(/\0/g, ''), 'contains a NUL character');
    }
    if (!req.is404 && !req.routeOptions.config?.takesQuery) {
      const first = params.find((p) => p.name !== '');
      if (first) throw badRequest(decodeUtf8(first.name)!, 'unknown query parameter: this route takes none');
    }
  });
}

function rawParams(query: string): Array<{ name: string; value: string }> {
  const out: Array<{ name: string; value: string }> = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    out.push(eq < 0 ? { name: part, value: '' } : { name: part.slice(0, eq), value: part.slice(eq + 1) });
  }
  return out;
}

/** Percent-decodes to bytes (a '%' not followed by two hex digits stays itself) and decodes strictly. */
function decodeUtf8(component: string): string | undefined {
  const s = component.replace(/\+/g, ' ');
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) bytes.push(c);
    else for (const b of Buffer.from(s[i]!, 'utf8')) bytes.push(b);
  }
  try {
    return strictUtf8.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}
