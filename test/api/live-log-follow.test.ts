import test from 'ava';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { LiveLogWriter } from '../../activities/live-log.js';
import { openPool, withTx, type Pool } from '../../core/db/pool.js';
import { notifyLiveLog } from '../../core/run/live-log-db.js';
import { LiveLogHub, type LiveLogHubOptions } from '../../core/run/live-log-hub.js';
import { LocalBlobStore } from '../../core/storage/local-store.js';
import { startKnitd as startLiveKnitd, type Knitd } from '../helpers/in-process-knitd.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRun, logLine } from '../helpers/live-log.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor, within } from '../helpers/wait.js';

// Several knitd replicas and workers share one database: a worker's writer on one pool, followers
// on knitd-like APIs with pools and hubs of their own. On PostgreSQL (DATABASE_URL) and on PGlite
// (KNIT_TEST_DB=pglite), where the hubs poll the table instead of listening.

/** Object storage that counts what is asked of it: followers of a live run must ask nothing. */
class CountingStore extends LocalBlobStore {
  calls: string[] = [];
  override get(key: string) {
    this.calls.push(`get ${key}`);
    return super.get(key);
  }
  override list(prefix: string) {
    this.calls.push(`list ${prefix}`);
    return super.list(prefix);
  }
}

let db: TestDatabase;
let store: CountingStore;
let worker: Pool;
const knitds: Knitd[] = [];
let cleanup: () => Promise<void>;

/** Without notifications, a follower of these waits for ever: what reaches it was pushed (or polled, on PGlite). */
const NEVER = 600_000;

async function startKnitd(name: string, liveLog: LiveLogHubOptions): Promise<Knitd> {
  const k = await startLiveKnitd(db.url, store, name, liveLog);
  knitds.push(k);
  return k;
}

test.before(async () => {
  db = await createTestDatabase();
  const home = await tempDir('knit-live-');
  store = new CountingStore(join(home.path, 'storage'));
  worker = openPool(db.url, { max: 2, applicationName: 'worker-elsewhere' });
  cleanup = async () => {
    for (const k of knitds) await k.close();
    await worker.end();
    await db.drop();
    await home.cleanup();
  };
});
test.after.always(async () => {
  await cleanup?.();
});

/** A follow request's body as it arrives. */
function collect(res: IncomingMessage): { text: () => string; ended: Promise<void> } {
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (c: string) => (text += c));
  const ended = new Promise<void>((resolve, reject) => {
    res.once('end', resolve);
    res.once('error', reject);
  });
  return { text: () => text, ended };
}

const shown = (text: string) => text.split('\n').filter((l) => l !== '').map((l) => l.split(' ').slice(1).join(' '));

/** What finishAttempt does, as far as followers see it: the run is over, and they are told. */
async function finish(runId: string): Promise<void> {
  await withTx(worker, async (tx) => {
    await tx.query("UPDATE run SET status = 'done', finished_at = now() WHERE id = $1", [runId]);
    await notifyLiveLog(tx, runId);
  });
}

test.serial('followers on two knitd replicas see the lines a worker elsewhere writes, pushed, and never touch object storage while the run is live', async (t) => {
  const a = await startKnitd('knitd-a', { fallbackMs: NEVER });
  const b = await startKnitd('knitd-b', { fallbackMs: NEVER });
  const run = await insertRun(worker, 'running');
  const writer = new LiveLogWriter(worker, run, 1, 0);
  await writer.add([logLine(1)]);
  await writer.flush();
  store.calls = [];

  const onA = collect(await a.client.runLog(run, { follow: true }));
  const onB = collect(await b.client.runLog(run, { follow: true }));
  for (const [name, f] of [['a', onA], ['b', onB]] as const) await waitFor(`knitd ${name}'s follower to get the stored line`, () => shown(f.text()).length === 1, 20_000);
  for (let n = 2; n <= 5; n++) {
    await writer.add([logLine(n)]);
    await writer.flush();
    for (const [name, f] of [['a', onA], ['b', onB]] as const) await waitFor(`knitd ${name}'s follower to get line ${n}`, () => shown(f.text()).length === n, 20_000);
  }
  t.deepEqual(store.calls, [], 'object storage is not asked while the run is live');
  await finish(run);
  await within(20_000, 'the follow requests to end with the run', Promise.all([onA.ended, onB.ended]));
  const expected = [1, 2, 3, 4, 5].map((n) => `stdout line-${n}`);
  t.deepEqual(shown(onA.text()), expected);
  t.deepEqual(shown(onB.text()), expected);
});

test.serial('a follower gets lines whose notification was lost, by its fallback read of the table', async (t) => {
  const k = await startKnitd('knitd-fallback', { fallbackMs: 200 });
  const run = await insertRun(worker, 'running');
  const f = collect(await k.client.runLog(run, { follow: true }));
  // Stored as the writer would, but nobody is told: a notification lost on the way.
  await worker.query("INSERT INTO live_log_chunk (run_id, attempt, seq, text, last_timestamp) VALUES ($1, 1, 0, $2, '2026-11-26T05:00:01.100Z')", [
    run,
    '2026-11-26T05:00:01.100Z stdout unannounced\n',
  ]);
  await waitFor('the unannounced line to reach the follower', () => shown(f.text()).length === 1, 20_000);
  await worker.query("UPDATE run SET status = 'done' WHERE id = $1", [run]);
  await within(20_000, 'the follow request to end', f.ended);
  t.deepEqual(shown(f.text()), ['stdout unannounced']);
});

test.serial('a follower gets every line when its knitd loses the LISTEN connection; the hub connects again', async (t) => {
  const k = await startKnitd('knitd-drop', { fallbackMs: NEVER });
  const run = await insertRun(worker, 'running');
  const writer = new LiveLogWriter(worker, run, 1, 0);
  const f = collect(await k.client.runLog(run, { follow: true }));
  await writer.add([logLine(1)]);
  await writer.flush();
  await waitFor('line 1', () => shown(f.text()).length === 1, 20_000);
  if (db.kind === 'postgres') {
    // Every session of this knitd, the LISTEN one among them, as a database restart or a proxy would.
    const killed = await worker.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'knitd-drop'");
    t.true(killed.rowCount! >= 1);
  }
  for (let n = 2; n <= 4; n++) {
    await writer.add([logLine(n)]);
    await writer.flush();
  }
  await waitFor('lines 2 to 4, written while the hub was reconnecting', () => shown(f.text()).length === 4, 20_000);
  await writer.add([logLine(5)]);
  await writer.flush();
  await waitFor('line 5, written after the hub is back', () => shown(f.text()).length === 5, 20_000);
  await finish(run);
  await within(20_000, 'the follow request to end', f.ended);
  t.deepEqual(shown(f.text()), [1, 2, 3, 4, 5].map((n) => `stdout line-${n}`));
});

test.serial('the hub listens on PostgreSQL and polls on PGlite, whose wire server cannot deliver a notification to another client', async (t) => {
  const pool = openPool(db.url, { max: 2, applicationName: 'hub-probe' });
  const hub = await LiveLogHub.open(pool, { fallbackMs: NEVER, reconnectMs: 50 });
  try {
    t.is(hub.mode, db.kind === 'pglite' ? 'poll' : 'listen');
    const run = await insertRun(worker, 'running');
    if (hub.mode === 'listen') await waitFor('the LISTEN session', () => hub.listening(), 20_000);
    const watch = hub.watch(run);
    // The first poll (PGlite) sees every run as changed; take that wake-up first.
    if (hub.mode === 'poll') await within(20_000, 'the first poll', watch.next());
    const writer = new LiveLogWriter(worker, run, 1, 0);
    await writer.add([logLine(1)]);
    await writer.flush();
    await within(20_000, 'the watch to be woken by the new chunk', watch.next());
    if (hub.mode === 'listen') {
      await worker.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'hub-probe' AND query LIKE 'LISTEN%'");
      // Connected again, the hub wakes every follower: chunks may have come meanwhile.
      await within(20_000, 'the wake-up after reconnecting', watch.next());
      await waitFor('the LISTEN session again', () => hub.listening(), 20_000);
    }
    watch.close();
  } finally {
    await hub.close();
    await pool.end();
  }
});

test.serial('a live log of many chunks is read page by page, in order, each line once', async (t) => {
  const k = knitds[0] ?? (await startKnitd('knitd-pages', { fallbackMs: NEVER }));
  const run = await insertRun(worker, 'running');
  const writer = new LiveLogWriter(worker, run, 1, 0);
  // One chunk per flush: 30 chunks, several pages of a follower's reads.
  for (let n = 1; n <= 30; n++) {
    await writer.add([logLine(n)]);
    await writer.flush();
  }
  t.is(writer.position().seq, 30);
  const f = collect(await k.client.runLog(run));
  await within(20_000, 'the log', f.ended);
  t.deepEqual(shown(f.text()), Array.from({ length: 30 }, (_, i) => `stdout line-${i + 1}`));
});

test.serial('closing a knitd ends its follow requests, cut short with an error, instead of waiting for their runs', async (t) => {
  const k = await startKnitd('knitd-closing', { fallbackMs: NEVER });
  knitds.splice(knitds.indexOf(k), 1);
  const run = await insertRun(worker, 'running');
  const writer = new LiveLogWriter(worker, run, 1, 0);
  await writer.add([logLine(1)]);
  await writer.flush();
  const f = collect(await k.client.runLog(run, { follow: true }));
  await waitFor('line 1', () => shown(f.text()).length === 1, 20_000);
  await within(20_000, 'knitd to close with a follower of a live run', k.app.close());
  await k.pool.end();
  await t.throwsAsync(within(20_000, 'the follow request to end', f.ended));
});
