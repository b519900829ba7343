import test from 'ava';
import { setImmediate as tick } from 'node:timers/promises';
import { LiveLogWriter } from '../activities/live-log.js';
import type { Pool } from '../core/db/pool.js';
import { deleteLiveLog, MAX_CHUNK_BYTES } from '../core/run/live-log-db.js';
import { sweepLiveLogs } from '../worker/sweep.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { allChunks, insertRun, logLine as line } from './helpers/live-log.js';

// The live log in the database, on PostgreSQL (DATABASE_URL) and on PGlite (KNIT_TEST_DB=pglite).
let db: TestDatabase;
test.before(async () => {
  db = await createTestDatabase();
});
test.after.always(async () => {
  await db?.drop();
});

/** The pool, with every checkout a little late: a flush's transaction is still under way when more lines come. */
function slowPool(pool: Pool): Pool {
  return new Proxy(pool, {
    get(target, prop) {
      if (prop === 'connect') return async () => (await new Promise((r) => setTimeout(r, 50)), target.connect());
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const texts = async (runId: string) => (await allChunks(db.pool, runId)).map((c) => c.text).join('');
const words = (text: string) => text.trim().split('\n').map((l) => l.split(' ').slice(1).join(' '));

test('lines that arrive while a chunk is being written go into the next chunk, none lost', async (t) => {
  const run = await insertRun(db.pool, 'running');
  const w = new LiveLogWriter(slowPool(db.pool), run, 1, 0);
  await w.add([line(1)]);
  const first = w.flush();
  await tick(); // the flush has taken its lines and waits for its connection
  await w.add([line(2)]);
  await first;
  await w.add([line(3)]);
  await w.flush();
  t.deepEqual(words(await texts(run)), ['stdout line-1', 'stdout line-2', 'stdout line-3']);
  const chunks = await allChunks(db.pool, run);
  t.deepEqual(chunks.map((c) => [c.seq, c.lastTimestamp]), [
    [0, '2026-11-26T05:00:01.100Z'],
    [1, '2026-11-26T05:00:03.300Z'],
  ]);
  t.deepEqual(w.position(), { seq: 2, lastTimestamp: '2026-11-26T05:00:03.300Z' });
});

test('a writer resuming after a crash skips the lines already stored, even when the platform repeats them', async (t) => {
  const run = await insertRun(db.pool, 'running');
  const first = new LiveLogWriter(db.pool, run, 1, 0);
  await first.add([line(1), line(2)]);
  await first.flush();
  const resumed = new LiveLogWriter(db.pool, run, 1, first.position().seq, first.position().lastTimestamp);
  t.is(resumed.after(), '2026-11-26T05:00:02.200Z');
  await resumed.add([line(2), line(3)]);
  await resumed.flush();
  t.deepEqual(words(await texts(run)), ['stdout line-1', 'stdout line-2', 'stdout line-3']);
});

test('a writer resuming from a heartbeat older than its predecessor’s last chunk stores each line once', async (t) => {
  const run = await insertRun(db.pool, 'running');
  const first = new LiveLogWriter(db.pool, run, 1, 0);
  await first.add([line(1), line(2)]);
  await first.flush();
  const heartbeat = first.position();
  // Stored after the last heartbeat Temporal kept, then the worker died.
  await first.add([line(3)]);
  await first.flush();
  const resumed = new LiveLogWriter(db.pool, run, 1, heartbeat.seq, heartbeat.lastTimestamp);
  await resumed.add([line(3), line(4)]);
  await resumed.flush();
  t.deepEqual(words(await texts(run)), ['stdout line-1', 'stdout line-2', 'stdout line-3', 'stdout line-4']);
  t.deepEqual(resumed.position(), { seq: 3, lastTimestamp: '2026-11-26T05:00:04.400Z' });
});

test('no chunk holds more than 256 KiB, a line longer than that is split at a character boundary, and nothing is lost', async (t) => {
  const run = await insertRun(db.pool, 'running');
  const w = new LiveLogWriter(db.pool, run, 1, 0);
  const long = 'é'.repeat(300 * 1024); // 600 KiB of two-byte characters
  const lines = [line(1), line(2, long), ...Array.from({ length: 40 }, (_, i) => line(3 + i, 'x'.repeat(20_000)))];
  await w.add(lines);
  await w.flush();
  const chunks = await allChunks(db.pool, run);
  t.true(chunks.length >= 4, `${chunks.length} chunks`);
  for (const c of chunks) t.true(Buffer.byteLength(c.text) <= MAX_CHUNK_BYTES, `chunk ${c.seq}: ${Buffer.byteLength(c.text)} bytes`);
  t.deepEqual(words(chunks.map((c) => c.text).join('')), lines.map((l) => `stdout ${l.text}`));
  t.is(chunks.at(-1)!.lastTimestamp, lines.at(-1)!.timestamp);
});

test('the live log of a finished attempt is deleted with its run’s cleanup, and by the sweep; one in flight is kept', async (t) => {
  const done = await insertRun(db.pool, 'done');
  const running = await insertRun(db.pool, 'running');
  const retried = await insertRun(db.pool, 'running', 2);
  for (const [id, attempt] of [[done, 1], [running, 1], [retried, 1], [retried, 2]] as const) {
    const w = new LiveLogWriter(db.pool, id, attempt, 0);
    await w.add([line(1)]);
    await w.flush();
  }
  // Every attempt that is over, of every run: the sweep may find others' from earlier tests.
  t.true((await sweepLiveLogs({ pool: db.pool })) >= 2);
  t.deepEqual(await allChunks(db.pool, done), [], 'a finished run’s');
  t.deepEqual(await allChunks(db.pool, retried, 1), [], 'an earlier attempt’s');
  t.is((await allChunks(db.pool, retried, 2)).length, 1, 'the current attempt’s is kept');
  t.is((await allChunks(db.pool, running)).length, 1, 'a running attempt’s is kept');
  t.is(await deleteLiveLog(db.pool, running, 1), 1);
  t.deepEqual(await allChunks(db.pool, running), []);
});
