import test from 'ava';
import { randomUUID } from 'node:crypto';
import { changeTags, getData, insertData, findData } from '../../core/data/db.js';
import { withTx } from '../../core/db/pool.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;
test.before(async () => {
  db = await createTestDatabase();
});
test.after.always(() => db?.drop());

async function newData(tags: Array<{ key: string; value: string }>) {
  const id = randomUUID();
  return withTx(db.pool, (tx) => insertData(tx, { id, size: 10, digest: `sha256:${'a'.repeat(64)}`, blobKey: `data/${id}`, tags }));
}

test('data content is immutable in the database itself', async (t) => {
  const d = await newData([{ key: 'k', value: 'v' }]);
  for (const col of ["digest = 'sha256:" + 'b'.repeat(64) + "'", 'size = 11', "blob_key = 'data/other'", "created_at = created_at - interval '1 day'"]) {
    const err = await t.throwsAsync(db.pool.query(`UPDATE data SET ${col} WHERE id = $1`, [d.id]));
    t.regex(err!.message, /immutable/, col);
  }
  t.is((await getData(db.pool, d.id))?.size, 10);
});

test('knit#timestamp round-trips exactly: created_at has millisecond precision', async (t) => {
  const d = await newData([{ key: 'test', value: 'timestamp' }]);
  const stored = await db.pool.query("SELECT created_at = date_trunc('milliseconds', created_at) AS whole_ms FROM data WHERE id = $1", [d.id]);
  t.true(stored.rows[0].whole_ms);
  // Other tests insert concurrently, possibly within the same millisecond: narrow by a tag too.
  const found = await findData(db.pool, {
    tag: [
      { key: 'knit#timestamp', value: d.createdAt.toISOString() },
      { key: 'test', value: 'timestamp' },
    ],
    since: undefined,
    duration: undefined,
  });
  t.deepEqual(found.map((x) => x.id), [d.id]);
});

test('a tag change that fails half-way leaves the tags as they were', async (t) => {
  const d = await newData([{ key: 'stage', value: 'raw' }]);
  await t.throwsAsync(
    withTx(db.pool, async (tx) => {
      await changeTags(tx, d.id, { remove: [{ key: 'stage', value: 'raw' }], removeKey: [], add: [{ key: 'stage', value: 'clean' }] });
      throw new Error('crash before commit');
    }),
  );
  t.deepEqual((await getData(db.pool, d.id))!.tags, [{ key: 'stage', value: 'raw' }]);
});

test('concurrent tag changes are atomic: a reader never sees a half-applied change', async (t) => {
  const d = await newData([{ key: 'state', value: 'a' }]);
  const flip = (from: string, to: string) =>
    withTx(db.pool, (tx) => changeTags(tx, d.id, { remove: [{ key: 'state', value: from }], removeKey: [], add: [{ key: 'state', value: to }] }));
  const seen = new Set<string>();
  let writing = true;
  const reader = (async () => {
    while (writing) {
      const tags = (await getData(db.pool, d.id))!.tags.filter((x) => x.key === 'state').map((x) => x.value);
      seen.add(tags.join(','));
    }
  })();
  const writers = [];
  for (let i = 0; i < 40; i++) writers.push(i % 2 === 0 ? flip('a', 'b') : flip('b', 'a'));
  await Promise.all(writers);
  writing = false;
  await reader;
  for (const s of seen) t.true(s === 'a' || s === 'b', `reader saw state tags [${s}]`);
  const final = (await getData(db.pool, d.id))!.tags.filter((x) => x.key === 'state');
  t.is(final.length, 1);
  const outbox = await db.pool.query("SELECT count(*) AS n FROM outbox WHERE subject_id = $1 AND kind = 'data.tagged'", [d.id]);
  t.is(Number(outbox.rows[0].n), 40, 'every change wrote its outbox event');
});
