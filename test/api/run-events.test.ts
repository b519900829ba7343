import test from 'ava';
import { join } from 'node:path';
import { LiveLogWriter } from '../../activities/live-log.js';
import { readServerSentEvents } from '../../client/sse.js';
import { send } from '../../client/http.js';
import { openPool, type Pool } from '../../core/db/pool.js';
import type { RunEvent } from '../../core/run/events.js';
import { LocalBlobStore } from '../../core/storage/local-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startKnitd, type Knitd } from '../helpers/in-process-knitd.js';
import { insertRun, logLine } from '../helpers/live-log.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor, within } from '../helpers/wait.js';

// GET /api/runs/:id/events pushes a run's changes as Server-Sent Events. The knitd here reads the
// table again only after ten minutes without a notification: on PostgreSQL, what reaches a
// follower sooner was pushed, by the run-change trigger (migration 0009) for status changes
// written by a plain UPDATE that notifies nobody itself. On PGlite (KNIT_TEST_DB=pglite) the hub
// polls instead, and the same must hold.

const NEVER = 600_000;
let db: TestDatabase;
let worker: Pool;
let knitd: Knitd;
let cleanup: () => Promise<void>;

test.before(async () => {
  db = await createTestDatabase();
  const home = await tempDir('knit-events-');
  worker = openPool(db.url, { max: 2, applicationName: 'worker-elsewhere' });
  knitd = await startKnitd(db.url, new LocalBlobStore(join(home.path, 'storage')), 'knitd-events', { fallbackMs: NEVER });
  cleanup = async () => {
    await knitd.close();
    await worker.end();
    await db.drop();
    await home.cleanup();
  };
});
test.after.always(async () => {
  await cleanup?.();
});

/** Collects a run's events as they come, until the stream ends. */
function follow(id: string, log: boolean): { events: RunEvent[]; ended: Promise<void>; stop: AbortController } {
  const stop = new AbortController();
  const events: RunEvent[] = [];
  const ended = (async () => {
    for await (const e of knitd.client.runEvents(id, { log, signal: stop.signal })) events.push(e);
  })();
  return { events, ended, stop };
}

const setStatus = (id: string, status: string) => worker.query('UPDATE run SET status = $2 WHERE id = $1', [id, status]);
const statuses = (events: RunEvent[]) => events.flatMap((e) => (e.event === 'run' ? [e.data.status] : []));

test.serial('a run\'s status changes and log lines are pushed as they happen, then `end`, and the stream closes', async (t) => {
  const run = await insertRun(worker, 'starting');
  const f = follow(run, true);
  await waitFor('the first event: the run as it is', () => statuses(f.events).length === 1, 20_000);
  t.deepEqual(statuses(f.events), ['starting']);

  await setStatus(run, 'running');
  await waitFor('the change to running, pushed', () => statuses(f.events).includes('running'), 20_000);
  const writer = new LiveLogWriter(worker, run, 1, 0);
  await writer.add([logLine(1), logLine(2)]);
  await writer.flush();
  await waitFor('the log lines, pushed', () => f.events.some((e) => e.event === 'log' && e.data.text.includes('line-2')), 20_000);

  await worker.query("UPDATE run SET status = 'done', finished_at = now() WHERE id = $1", [run]);
  await within(20_000, 'the stream to end with the run', f.ended);
  t.deepEqual(statuses(f.events), ['starting', 'running', 'done']);
  const last = f.events.at(-1);
  t.is(last?.event, 'end');
  t.is(last?.event === 'end' ? last.data.status : undefined, 'done');
  const text = f.events.flatMap((e) => (e.event === 'log' ? [e.data.text] : [])).join('');
  t.regex(text, /stdout line-1\n.*stdout line-2\n/s);
});

test.serial('without log=true no log event is sent; a finished run gets its state and `end` at once', async (t) => {
  const run = await insertRun(worker, 'running');
  const writer = new LiveLogWriter(worker, run, 1, 0);
  await writer.add([logLine(1)]);
  await writer.flush();
  const f = follow(run, false);
  await waitFor('the first event', () => f.events.length >= 1, 20_000);
  await setStatus(run, 'failed');
  await within(20_000, 'the stream to end', f.ended);
  t.deepEqual(f.events.map((e) => e.event), ['run', 'run', 'end']);
  t.deepEqual(statuses(f.events), ['running', 'failed']);

  const again = follow(run, false);
  await within(20_000, 'a finished run\'s stream to end by itself', again.ended);
  t.deepEqual(again.events.map((e) => e.event), ['run', 'end']);
});

test.serial('waitRun resolves on the pushed change, not at a poll', async (t) => {
  const run = await insertRun(worker, 'running');
  const changes: string[] = [];
  const waiting = knitd.client.waitRun(run, { timeoutMs: 60_000, onChange: (r) => changes.push(r.status) });
  await waitFor('the waiter to see the run running', () => changes.includes('running'), 20_000);
  await setStatus(run, 'done');
  const done = await within(20_000, 'waitRun to resolve', waiting);
  t.is(done.status, 'done');
  t.deepEqual(changes, ['running', 'done']);
});

test.serial('waitRun gives up after its timeout, naming the status', async (t) => {
  const run = await insertRun(worker, 'running');
  const err = await t.throwsAsync(knitd.client.waitRun(run, { timeoutMs: 300 }));
  t.regex(err?.message ?? '', /still running after the timeout/);
});

test.serial('the long-polling /wait route is woken by the pushed change too', async (t) => {
  const run = await insertRun(worker, 'running');
  const started = Date.now();
  const res = send(knitd.client.conn, { method: 'GET', path: `/api/runs/${run}/wait`, query: { timeout: '100s' } });
  setTimeout(() => void setStatus(run, 'done'), 300);
  const body = await within(20_000, '/wait to answer', (async () => {
    let text = '';
    for await (const c of await res) text += String(c);
    return JSON.parse(text) as { status: string };
  })());
  t.is(body.status, 'done');
  t.true(Date.now() - started < 60_000, 'answered on the change, well before its timeout');
});

test.serial('the stream is text/event-stream; an unknown run is 404 and a bad flag is 400 naming it', async (t) => {
  const run = await insertRun(worker, 'done');
  const res = await send(knitd.client.conn, { method: 'GET', path: `/api/runs/${run}/events`, headers: { accept: 'text/event-stream' } });
  t.regex(String(res.headers['content-type']), /^text\/event-stream/);
  t.is(res.headers['cache-control'], 'no-cache');
  const raw = [];
  for await (const e of readServerSentEvents(res)) raw.push(e.event);
  t.deepEqual(raw, ['run', 'end']);

  const missing = await t.throwsAsync(send(knitd.client.conn, { method: 'GET', path: '/api/runs/00000000-0000-4000-8000-000000000000/events' }));
  t.regex(missing?.message ?? '', /not found|no run/i);
  const bad = await t.throwsAsync(send(knitd.client.conn, { method: 'GET', path: `/api/runs/${run}/events`, query: { log: 'yes' } }));
  t.regex(bad?.message ?? '', /log/);
});
