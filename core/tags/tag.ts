import { z } from 'zod';
import { badRequest } from '../errors/knit-error.js';

/** A tag is `key:value`, split at the first colon, both sides trimmed, case-sensitive. */
export interface Tag {
  readonly key: string;
  readonly value: string;
}

export const SYSTEM_PREFIX = 'knit#';
export const TAG_ID = 'knit#id';
export const TAG_TIMESTAMP = 'knit#timestamp';
export const TAG_TRANSIENT = 'knit#transient';

/** Lengths are in Unicode code points, so an emoji or a CJK character counts once. */
export const KEY_MAX_LENGTH = 256;
export const VALUE_MAX_LENGTH = 1024;

// C0/C1 control characters and the Unicode line/paragraph separators break terminals, logs and
// the one-tag-per-line formats users grep. Format characters (\p{Cf}: bidi overrides and
// isolates, zero-width space/joiners, word joiner, BOM, soft hyphen…) are invisible, so two tags
// that look the same would differ, or a tag would display as something it is not.
const CONTROL = /[\p{Cc}\u2028\u2029]/u;
const INVISIBLE = /\p{Cf}/u;
// A lone surrogate is not a character; U+FFFD is what a decoder leaves where bytes were not
// UTF-8, so a tag holding it has already lost what its writer meant.
const NOT_TEXT = /[\p{Cs}\uFFFD]/u;

/** Length in Unicode code points (not UTF-16 units). */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Why `text` cannot be (part of) a tag, or undefined. Shared by whole tags and lone keys. */
export function forbiddenCharacterProblem(text: string, what: string): string | undefined {
  const describe = (re: RegExp): string => {
    const ch = re.exec(text)![0];
    return `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  };
  if (CONTROL.test(text)) return `${what} contains a control character (${describe(CONTROL)})`;
  if (INVISIBLE.test(text)) return `${what} contains an invisible format character (${describe(INVISIBLE)}, e.g. a bidi override or zero-width character)`;
  if (NOT_TEXT.test(text)) return `${what} is not valid Unicode text (${describe(NOT_TEXT)}: a lone surrogate or a replacement character from invalid UTF-8)`;
  return undefined;
}

export function isSystemKey(key: string): boolean {
  return key.startsWith(SYSTEM_PREFIX);
}

/** Tags as the database aggregates them, `[[key, value], …]` (or null for none). */
export function tagsFromPairs(pairs: ReadonlyArray<readonly [string, string]> | null | undefined): Tag[] {
  return (pairs ?? []).map(([key, value]) => ({ key, value }));
}

export function formatTag(tag: Tag): string {
  return `${tag.key}:${tag.value}`;
}

/** Why `raw` is not a well-formed tag, or undefined when it is. */
export function tagProblem(raw: string): string | undefined {
  const at = raw.indexOf(':');
  if (at < 0) return `tag ${JSON.stringify(raw)} must be KEY:VALUE`;
  const bad = forbiddenCharacterProblem(raw, `tag ${JSON.stringify(raw)}`);
  if (bad) return bad;
  const key = raw.slice(0, at).trim();
  const value = raw.slice(at + 1).trim();
  if (key === '') return `tag ${JSON.stringify(raw)} has an empty key`;
  if (codePointLength(key) > KEY_MAX_LENGTH) return `tag key ${JSON.stringify([...key].slice(0, 40).join('') + '…')} is longer than ${KEY_MAX_LENGTH} characters (code points)`;
  if (codePointLength(value) > VALUE_MAX_LENGTH) return `tag ${JSON.stringify(key)} has a value longer than ${VALUE_MAX_LENGTH} characters (code points)`;
  return undefined;
}

/** Why `raw` is not a usable tag key on its own (as in `removeKey`), or undefined. */
export function keyProblem(raw: string): string | undefined {
  const key = raw.trim();
  if (key === '') return 'key is empty';
  const bad = forbiddenCharacterProblem(key, `tag key ${JSON.stringify(key)}`);
  if (bad) return bad;
  if (key.includes(':')) return `tag key ${JSON.stringify(key)} contains ':', which separates a key from its value`;
  if (codePointLength(key) > KEY_MAX_LENGTH) return `tag key ${JSON.stringify([...key].slice(0, 40).join('') + '…')} is longer than ${KEY_MAX_LENGTH} characters (code points)`;
  return undefined;
}

/** A tag key given alone; trimmed. */
export const TagKey = z.string().transform((raw, ctx): string => {
  const problem = keyProblem(raw);
  if (problem) {
    ctx.addIssue({ code: 'custom', message: problem });
    return z.NEVER;
  }
  return raw.trim();
});

function split(raw: string): Tag {
  const at = raw.indexOf(':');
  return { key: raw.slice(0, at).trim(), value: raw.slice(at + 1).trim() };
}

/** A syntactically valid tag; system keys allowed (used for reading stored tags back). */
export const TagString = z.string().transform((raw, ctx): Tag => {
  const problem = tagProblem(raw);
  if (problem) {
    ctx.addIssue({ code: 'custom', message: problem });
    return z.NEVER;
  }
  return split(raw);
});

/** A tag a user may put on Data: any valid tag outside the reserved `knit#` namespace. */
export const UserTag = TagString.superRefine((tag, ctx) => {
  if (isSystemKey(tag.key)) {
    ctx.addIssue({
      code: 'custom',
      message: `tag key ${JSON.stringify(tag.key)} is reserved: keys starting with "${SYSTEM_PREFIX}" are set by knit, not by users`,
    });
  }
});

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A tag used to select Data (queries, plan inputs). User tags, plus `knit#id:` and
 * `knit#timestamp:` whose values must be a Data id and an RFC3339 time.
 */
export const SelectorTag = TagString.superRefine((tag, ctx) => {
  if (!isSystemKey(tag.key)) return;
  if (tag.key === TAG_ID) {
    if (!UUID.test(tag.value)) ctx.addIssue({ code: 'custom', message: `${TAG_ID} must be a Data id (a UUID), got ${JSON.stringify(tag.value)}` });
    return;
  }
  if (tag.key === TAG_TIMESTAMP) {
    if (!RFC3339.test(tag.value) || Number.isNaN(Date.parse(tag.value))) {
      ctx.addIssue({ code: 'custom', message: `${TAG_TIMESTAMP} must be an RFC3339 time such as 2026-01-02T03:04:05.678Z, got ${JSON.stringify(tag.value)}` });
    }
    return;
  }
  ctx.addIssue({ code: 'custom', message: `tag key ${JSON.stringify(tag.key)} cannot be used to select Data; only ${TAG_ID} and ${TAG_TIMESTAMP} can` });
});

export function isUuid(s: string): boolean {
  return UUID.test(s);
}

export function isRfc3339(s: string): boolean {
  return RFC3339.test(s) && !Number.isNaN(Date.parse(s));
}

/** Parses one tag or throws a 400 naming `field`. */
export function parseTag(raw: string, field: string, kind: 'user' | 'selector' = 'user'): Tag {
  const schema = kind === 'user' ? UserTag : SelectorTag;
  const r = schema.safeParse(raw);
  if (!r.success) throw badRequest(field, r.error.issues[0]?.message ?? 'invalid tag');
  return r.data;
}

/** Formats a timestamp the way `knit#timestamp` shows it: RFC3339, milliseconds, UTC. */
export function formatTimestamp(d: Date): string {
  return d.toISOString();
}

export function sameTag(a: Tag, b: Tag): boolean {
  return a.key === b.key && a.value === b.value;
}

/** Sorted, duplicate-free copy: stable output for APIs and equality checks. */
export function normalizeTags(tags: readonly Tag[]): Tag[] {
  const seen = new Map<string, Tag>();
  for (const t of tags) seen.set(`${t.key}\u0000${t.value}`, t);
  return [...seen.values()].sort((a, b) => (a.key === b.key ? cmp(a.value, b.value) : cmp(a.key, b.key)));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
