import test from 'ava';
import { KnitError } from '../core/errors/knit-error.js';
import { codePointLength, parseTag, KEY_MAX_LENGTH, VALUE_MAX_LENGTH, SelectorTag, TagKey, UserTag } from '../core/tags/tag.js';

test('a tag splits at the first colon and trims both sides', (t) => {
  t.deepEqual(parseTag('  model : resnet ', 'tag'), { key: 'model', value: 'resnet' });
  t.deepEqual(parseTag('url:http://x:80/y', 'tag'), { key: 'url', value: 'http://x:80/y' });
  t.deepEqual(parseTag('empty:', 'tag'), { key: 'empty', value: '' });
});

test('tags are case-sensitive', (t) => {
  t.notDeepEqual(parseTag('Type:A', 'tag'), parseTag('type:a', 'tag'));
});

const badForms: Array<[string, RegExp]> = [
  ['no-colon', /must be KEY:VALUE/],
  [':value-without-key', /empty key/],
  ['   :value', /empty key/],
  ['line\nbreak:x', /control character/],
  ['key:tab\there', /control character/],
  ['key:bell\u0007', /control character/],
  ['key:del\u007f', /control character/],
  ['key:c1\u0085', /control character/],
  ['key:sep\u2028', /control character/],
  [`${'k'.repeat(KEY_MAX_LENGTH + 1)}:v`, /longer than 256/],
  [`k:${'v'.repeat(VALUE_MAX_LENGTH + 1)}`, /longer than 1024/],
];

for (const [raw, why] of badForms) {
  test(`rejects the bad tag ${JSON.stringify(raw.slice(0, 30))} with a message naming it`, (t) => {
    const err = t.throws(() => parseTag(raw, 'tag[3]'), { instanceOf: KnitError });
    t.is(err?.code, 'bad_request');
    t.is(err?.field, 'tag[3]');
    t.regex(err!.message, /^tag\[3\]: /);
    t.regex(err!.message, why);
  });
}

test('keys starting with knit# are refused as user tags', (t) => {
  for (const raw of ['knit#id:123', 'knit#timestamp:2026-01-01T00:00:00Z', 'knit#transient:failed', 'knit#anything:x']) {
    const err = t.throws(() => parseTag(raw, 'add[0]'), { instanceOf: KnitError });
    t.regex(err!.message, /reserved/);
    t.regex(err!.message, /knit#/);
  }
});

test('a selector may use knit#id and knit#timestamp but not other system keys', (t) => {
  t.true(SelectorTag.safeParse('knit#id:3f0c2a9e-1111-4222-8333-444455556666').success);
  t.true(SelectorTag.safeParse('knit#timestamp:2026-01-02T03:04:05.678Z').success);
  t.true(SelectorTag.safeParse('knit#timestamp:2026-01-02T12:04:05.678+09:00').success);
  t.regex(SelectorTag.safeParse('knit#id:not-a-uuid').error!.issues[0]!.message, /UUID/);
  t.regex(SelectorTag.safeParse('knit#timestamp:yesterday').error!.issues[0]!.message, /RFC3339/);
  t.regex(SelectorTag.safeParse('knit#transient:failed').error!.issues[0]!.message, /cannot be used to select/);
  t.false(UserTag.safeParse('knit#id:3f0c2a9e-1111-4222-8333-444455556666').success);
});

const invisible: Array<[string, string]> = [
  ['U+202E right-to-left override', 'file:evil\u202etxt.exe'],
  ['U+202A left-to-right embedding', 'k:\u202av'],
  ['U+2066 left-to-right isolate', 'k\u2066:v'],
  ['U+2069 pop directional isolate', 'k:v\u2069'],
  ['U+200B zero-width space', 'project:alpha\u200b'],
  ['U+200C zero-width non-joiner', 'k:a\u200cb'],
  ['U+200D zero-width joiner', 'k:a\u200db'],
  ['U+2060 word joiner', 'k:a\u2060b'],
  ['U+FEFF byte order mark', '\ufeffk:v'],
  ['U+00AD soft hyphen', 'k:a\u00adb'],
];

for (const [what, raw] of invisible) {
  test(`refuses a tag holding the invisible ${what}`, (t) => {
    const err = t.throws(() => parseTag(raw, 'tag[0]'), { instanceOf: KnitError });
    t.regex(err!.message, /invisible format character/);
  });
}

test('refuses lone surrogates and U+FFFD, the marks of text that was not valid UTF-8', (t) => {
  for (const raw of ['k:\ud800', 'k:\udc00x', 'k:caf\ufffd']) {
    const err = t.throws(() => parseTag(raw, 'tag[0]'), { instanceOf: KnitError }, JSON.stringify(raw));
    t.regex(err!.message, /not valid Unicode text/);
  }
});

test('tag lengths count Unicode code points, not UTF-16 units', (t) => {
  // U+1F600 is two UTF-16 units: 256 of them are 512 units, but 256 characters.
  const emoji = '\u{1F600}';
  t.is(parseTag(`${emoji.repeat(KEY_MAX_LENGTH)}:v`, 'tag').key.length, 2 * KEY_MAX_LENGTH);
  t.is(codePointLength(parseTag(`k:${emoji.repeat(VALUE_MAX_LENGTH)}`, 'tag').value), VALUE_MAX_LENGTH);
  t.throws(() => parseTag(`${emoji.repeat(KEY_MAX_LENGTH + 1)}:v`, 'tag'), { message: /longer than 256 characters/ });
  t.throws(() => parseTag(`k:${emoji.repeat(VALUE_MAX_LENGTH + 1)}`, 'tag'), { message: /longer than 1024 characters/ });
});

test('well-formed non-ASCII tags are kept as they are', (t) => {
  t.deepEqual(parseTag('städte:köln', 'tag'), { key: 'städte', value: 'köln' });
  t.deepEqual(parseTag('言語:日本語', 'tag'), { key: '言語', value: '日本語' });
});

test('a tag key given alone (removeKey) is checked like a key inside a tag', (t) => {
  t.is(TagKey.parse('  project '), 'project');
  for (const [raw, why] of [
    ['', /empty/],
    ['a\u0000b', /control character/],
    ['a\nb', /control character/],
    ['a\u202eb', /invisible/],
    ['k:v', /contains ':'/],
    ['k'.repeat(KEY_MAX_LENGTH + 1), /longer than 256/],
  ] as const) {
    const r = TagKey.safeParse(raw);
    t.false(r.success, JSON.stringify(raw));
    t.regex(r.error!.issues[0]!.message, why, JSON.stringify(raw));
  }
});
