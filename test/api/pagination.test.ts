import test from 'ava';
import { randomUUID } from 'node:crypto';
import { LIMITS } from '../../core/limits/limits.js';
import { nextCursor } from '../../core/page/link.js';
import { encodeCursor } from '../../core/page/page.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { parseJson, runKnit } from '../helpers/cli.js';
import { matchedRuns, testData, testPlan } from '../helpers/records.js';

let api: TestApi;
test.before(async () => {
  api = await startTestApi();
});
test.after.always(async () => {
  await api?.close();
});

async function get(path: string): Promise<{ status: number; link: string | null; body: unknown }> {
  const res = await fetch(new URL(path, api.url));
  return { status: res.status, link: res.headers.get('link'), body: await res.json() };
}

/** Every item of a list, a page of `limit` at a time, by following the Link headers as given. */
async function walk(path: string, limit: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let next: string | null = `${path}${path.includes('?') ? '&' : '?'}limit=${limit}`;
  let pages = 0;
  while (next !== null) {
    const page = await get(next);
    if (page.status !== 200) throw new Error(`${next} answered ${page.status}: ${JSON.stringify(page.body)}`);
    const items = page.body as Array<{ id: string }>;
    if (items.length > limit) throw new Error(`a page of ${items.length} for limit ${limit}`);
    ids.push(...items.map((x) => x.id));
    pages++;
    next = page.link === null ? null : /<([^>]+)>; rel="next"/.exec(page.link)![1]!;
    if (pages > 100) throw new Error('more than 100 pages: the Link keeps coming');
  }
  return { ids, pages };
}

test.serial('GET /api/data pages by limit and the rel="next" Link, in creation order, each Data once, keeping the filter', async (t) => {
  const tag = `page:${randomUUID().slice(0, 8)}`;
  const made: string[] = [];
  for (let i = 0; i < 7; i++) made.push((await testData(api.db.pool, tag)).id);
  await testData(api.db.pool, 'page:other');
  const { ids, pages } = await walk(`/api/data?tag=${tag}`, 3);
  t.deepEqual(ids, made);
  t.is(pages, 3);
  const last = await get(`/api/data?tag=${tag}&limit=7`);
  t.is(last.link, null, 'a page that holds the rest says there is no next');
});

test.serial('Data added while a client pages are met at the end, never repeated or skipped', async (t) => {
  const tag = `page:${randomUUID().slice(0, 8)}`;
  for (let i = 0; i < 4; i++) await testData(api.db.pool, tag);
  const first = await get(`/api/data?tag=${tag}&limit=2`);
  const late = await testData(api.db.pool, tag);
  let next = /<([^>]+)>/.exec(first.link!)![1]!;
  const seen = (first.body as Array<{ id: string }>).map((d) => d.id);
  for (;;) {
    const page = await get(next);
    seen.push(...(page.body as Array<{ id: string }>).map((d) => d.id));
    if (page.link === null) break;
    next = /<([^>]+)>/.exec(page.link)![1]!;
  }
  t.is(seen.length, 5);
  t.is(new Set(seen).size, 5);
  t.is(seen[4], late.id);
});

test.serial('GET /api/runs and /api/plans page the same way', async (t) => {
  const runs = await matchedRuns(api.db.pool, 5);
  const plan = (await api.db.pool.query<{ plan_id: string }>('SELECT plan_id FROM run WHERE id = $1', [runs[0]])).rows[0]!.plan_id;
  const walked = await walk(`/api/runs?plan=${plan}`, 2);
  t.deepEqual([...walked.ids].sort(), [...runs].sort());
  t.is(walked.pages, 3);
  for (let i = 0; i < 3; i++) await testPlan(api.db.pool, { image: `page/p${i}:1`, inputs: [{ path: '/in', tags: [`page:p${i}`] }] });
  const all = (await get('/api/plans')).body as Array<{ id: string }>;
  const plans = await walk('/api/plans', 2);
  t.deepEqual(plans.ids, all.map((p) => p.id));
  t.true(plans.pages >= 2);
});

test.serial('without limit a page holds LIMITS.pageDefault; the client follows every page', async (t) => {
  const tag = `page:${randomUUID().slice(0, 8)}`;
  const n = LIMITS.pageMax + 20;
  // Straight in SQL: a thousand uploads through the API would only slow the test down.
  await api.db.pool.query(
    `WITH d AS (INSERT INTO data (id, created_at, size, digest, blob_key)
       SELECT gen_random_uuid(), clock_timestamp(), 1, 'sha256:' || repeat('0', 64), 'data/p' || g FROM generate_series(1, $1::int) g RETURNING id)
     INSERT INTO data_tag (data_id, key, value) SELECT id, $2, $3 FROM d`,
    [n, tag.split(':')[0], tag.split(':')[1]],
  );
  const first = await get(`/api/data?tag=${tag}`);
  t.is((first.body as unknown[]).length, LIMITS.pageDefault);
  t.truthy(nextCursor(first.link));
  const all = await api.client.findData({ tags: [tag] });
  t.is(all.length, n);
  t.is(new Set(all.map((d) => d.id)).size, n);
  t.deepEqual(all.map((d) => d.createdAt), [...all.map((d) => d.createdAt)].sort(), 'oldest first across pages');
  t.is((await api.client.findData({ tags: [tag], max: LIMITS.pageMax + 5 })).length, LIMITS.pageMax + 5);
  t.is((await api.client.findData({ tags: [tag], max: 3 })).length, 3);
});

test.serial('limit and after are checked, each refusal naming its field', async (t) => {
  for (const [query, field] of [
    ['limit=0', 'limit'],
    [`limit=${LIMITS.pageMax + 1}`, 'limit'],
    ['limit=two', 'limit'],
    ['after=not-a-cursor', 'after'],
    [`after=${Buffer.from('["yesterday","x"]').toString('base64url')}`, 'after'],
  ] as const) {
    for (const list of ['data', 'runs', 'plans']) {
      const r = await get(`/api/${list}?${query}`);
      t.is(r.status, 400, `${list}?${query}`);
      t.is((r.body as { error: { field?: string } }).error.field, field, `${list}?${query}`);
    }
  }
  const valid = encodeCursor({ at: '2999-01-01T00:00:00.000000Z', id: randomUUID() });
  t.deepEqual((await get(`/api/data?after=${valid}`)).body, [], 'a cursor past every row is an empty page');
});

test.serial('knit data find, run find and plan find take --limit', async (t) => {
  const tag = `page:${randomUUID().slice(0, 8)}`;
  const made: string[] = [];
  for (let i = 0; i < 4; i++) made.push((await testData(api.db.pool, tag)).id);
  const env = { KNIT_SERVER: api.url, HOME: api.home };
  const data = await runKnit(['data', 'find', '-t', tag, '--limit', '2', '--json'], { env });
  t.is(data.code, 0, data.stderr);
  t.deepEqual(parseJson<Array<{ id: string }>>(data).map((d) => d.id), made.slice(0, 2));
  const runs = await runKnit(['run', 'find', '--limit', '1', '--json'], { env });
  t.is(runs.code, 0, runs.stderr);
  t.is(parseJson<unknown[]>(runs).length, 1);
  const plans = await runKnit(['plan', 'find', '--limit', '2', '--json'], { env });
  t.is(plans.code, 0, plans.stderr);
  t.is(parseJson<unknown[]>(plans).length, 2);
  const bad = await runKnit(['data', 'find', '--limit', '0'], { env });
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--limit "0": must be a whole number of at least 1/);
});

test('nextCursor reads the rel="next" target of a Link header, and nothing else', (t) => {
  t.is(nextCursor('</api/data?tag=a%3Ab&after=abc>; rel="next"'), 'abc');
  t.is(nextCursor('</x?after=p>; rel="prev", </x?after=n>; rel="next"'), 'n');
  t.is(nextCursor('</x?after=n>; rel=next'), 'n');
  t.is(nextCursor('</x?after=p>; rel="prev"'), undefined);
  t.is(nextCursor(undefined), undefined);
  t.is(nextCursor(null), undefined);
});
