import type { FastifyInstance } from 'fastify';
import { KnitError } from '../core/errors/knit-error.js';
import { LIMITS } from '../core/limits/limits.js';
import { formatPath } from '../core/validation/parse.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * JSON bodies, parsed from their bytes: Fastify's own parser decodes invalid UTF-8 into U+FFFD,
 * so a tag would be stored as something its writer never sent. PostgreSQL cannot store a NUL in
 * text, and a lone surrogate is not text at all; both are refused here, naming the field, instead
 * of surfacing as a database error.
 */
export function registerJsonBody(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body: Buffer, done) => {
    let text: string;
    try {
      text = strictUtf8.decode(body);
    } catch {
      const field = fieldWithInvalidUtf8(body) ?? 'body';
      return done(new KnitError('bad_request', `${field}: is not valid UTF-8 (first bad byte at offset ${firstInvalidUtf8(body)} of the body)`, { field }));
    }
    if (text.trim() === '') return done(new KnitError('bad_request', 'body: is empty; send a JSON object or no content-type', { field: 'body' }));
    const depth = nestingDepth(text, LIMITS.jsonDepth);
    if (depth > LIMITS.jsonDepth) return done(new KnitError('bad_request', `body: nested more than ${LIMITS.jsonDepth} levels deep`, { field: 'body' }));
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return done(new KnitError('bad_request', `body: ${(err as Error).message}`, { field: 'body' }));
    }
    const bad = findBadString(parsed, []);
    if (bad) {
      const field = formatPath('', bad.path);
      return done(new KnitError('bad_request', `${field}: ${bad.problem}`, { field }));
    }
    done(null, parsed);
  });
}

/**
 * How deep arrays and objects nest in `text`, counted without parsing it (brackets inside strings
 * do not count), stopping once past `max`: the recursive walks below and the schemas after them
 * then never see a body deeper than that.
 */
export function nestingDepth(text: string, max: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      deepest = Math.max(deepest, ++depth);
      if (deepest > max) return deepest;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

const REPLACEMENT_BYTES = Buffer.from('\ufffd');

/**
 * Which string holds the bad bytes, when that can be told: decoded leniently, every U+FFFD is a
 * bad sequence unless the body also spelled U+FFFD itself.
 */
function fieldWithInvalidUtf8(body: Buffer): string | undefined {
  if (body.includes(REPLACEMENT_BYTES)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  const path = findString(parsed, [], (s) => s.includes('\ufffd'));
  return path === undefined ? undefined : formatPath('', path);
}

function findString(v: unknown, path: PropertyKey[], bad: (s: string) => boolean): PropertyKey[] | undefined {
  if (typeof v === 'string') return bad(v) ? path : undefined;
  if (v === null || typeof v !== 'object') return undefined;
  for (const [k, x] of Array.isArray(v) ? v.entries() : Object.entries(v)) {
    const key = Array.isArray(v) ? Number(k) : k;
    if (typeof key === 'string' && bad(key)) return [...path, key];
    const found = findString(x, [...path, key], bad);
    if (found) return found;
  }
  return undefined;
}

/** Byte offset of the first byte that does not begin or continue a valid UTF-8 sequence. */
export function firstInvalidUtf8(b: Buffer): number {
  let lo = 0;
  let hi = b.length;
  // The longest valid prefix, by bisection on the decoder (which knows UTF-8 better than we do);
  // a prefix cut inside a valid sequence is also invalid, so the answer is a sequence start.
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (isUtf8Prefix(b.subarray(0, mid))) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function isUtf8Prefix(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b, { stream: true });
    return true;
  } catch {
    return false;
  }
}

const LONE_SURROGATE = /\p{Cs}/u;

function findBadString(v: unknown, path: PropertyKey[]): { path: PropertyKey[]; problem: string } | undefined {
  if (typeof v === 'string') {
    if (v.includes('\0')) return { path, problem: 'contains a control character (NUL, U+0000), which cannot be stored' };
    if (LONE_SURROGATE.test(v)) return { path, problem: 'contains a lone UTF-16 surrogate, which is not a character' };
    return undefined;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const bad = findBadString(v[i], [...path, i]);
      if (bad) return bad;
    }
    return undefined;
  }
  if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k.includes('\0') || LONE_SURROGATE.test(k)) return { path: [...path, k], problem: 'the key is not valid text' };
      // What Fastify's own parser refuses too: a key that could replace an object's prototype.
      if (k === '__proto__') return { path: [...path, k], problem: 'is not allowed as a key' };
      const bad = findBadString(x, [...path, k]);
      if (bad) return bad;
    }
  }
  return undefined;
}
