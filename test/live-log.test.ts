import test from 'ava';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { LiveLogWriter } from '../activities/live-log.js';
import { liveLogPrefix } from '../core/run/live-log.js';
import { LocalBlobStore } from '../core/storage/local-store.js';
import { tempDir } from './helpers/tmp.js';

/** Local storage whose writes take a while, so lines arrive while a chunk is being stored. */
class SlowStore extends LocalBlobStore {
  override async put(key: string, body: Readable) {
    await new Promise((r) => setTimeout(r, 50));
    return super.put(key, body);
  }
}

async function text(store: LocalBlobStore, runId: string): Promise<string> {
  const keys: string[] = [];
  for await (const e of store.list(liveLogPrefix(runId, 1))) keys.push(e.key);
  let out = '';
  for (const k of keys.sort()) for await (const c of await store.get(k)) out += (c as Buffer).toString();
  return out;
}

const line = (n: number) => ({ stream: 'stdout' as const, timestamp: `2026-11-26T05:00:0${n}.${n}00Z`, text: `line-${n}` });

test('lines that arrive while a chunk is being written go into the next chunk, none lost', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.cleanup);
  const store = new SlowStore(join(dir.path, 's'));
  const w = new LiveLogWriter(store, 'r1', 1, 0);
  await w.add([line(1)]);
  const first = w.flush();
  await w.add([line(2)]);
  await first;
  await w.add([line(3)]);
  await w.flush();
  t.deepEqual(
    (await text(store, 'r1')).trim().split('\n').map((l) => l.split(' ').slice(1).join(' ')),
    ['stdout line-1', 'stdout line-2', 'stdout line-3'],
  );
  t.deepEqual(w.position(), { seq: 2, lastTimestamp: '2026-11-26T05:00:03.300Z' });
});

test('a writer resuming after a crash skips the lines already stored, even when the platform repeats them', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.cleanup);
  const store = new LocalBlobStore(join(dir.path, 's'));
  const first = new LiveLogWriter(store, 'r2', 1, 0);
  await first.add([line(1), line(2)]);
  await first.flush();
  const resumed = new LiveLogWriter(store, 'r2', 1, first.position().seq, first.position().lastTimestamp);
  t.is(resumed.after(), '2026-11-26T05:00:02.200Z');
  await resumed.add([line(2), line(3)]);
  await resumed.flush();
  t.deepEqual(
    (await text(store, 'r2')).trim().split('\n').map((l) => l.split(' ').at(-1)),
    ['line-1', 'line-2', 'line-3'],
  );
});
