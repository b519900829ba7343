import test from 'ava';
import { KnitError } from '../core/errors/knit-error.js';
import { parseTag, KEY_MAX_LENGTH, VALUE_MAX_LENGTH, SelectorTag, UserTag } from '../core/tags/tag.js';

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
