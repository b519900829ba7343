import test from 'ava';
import { LiveLogWriter } from '../activities/live-log.js';
import { startPeriodicSweep } from '../core/data/gc-loop.js';
import { sweepLiveLogs } from '../worker/sweep.js';
import { createTestDatabase } from './helpers/db.js';
import { allChunks, insertRun, logLine } from './helpers/live-log.js';
import { waitFor } from './helpers/wait.js';

test('live logs of attempts that end while the sweeper runs are swept; those of attempts in flight are kept', async (t) => {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const sweeper = startPeriodicSweep(100, async () => void (await sweepLiveLogs({ pool: db.pool })), (err) => t.fail(String(err)));
  t.teardown(() => sweeper.stop());

  const ending = await insertRun(db.pool, 'running');
  const running = await insertRun(db.pool, 'running');
  for (const id of [ending, running]) {
    const w = new LiveLogWriter(db.pool, id, 1, 0);
    await w.add([logLine(1)]);
    await w.flush();
  }
  // The attempt ends, as a crash between finishing and cleaning up would leave it: chunks and all.
  await db.pool.query("UPDATE run SET status = 'done' WHERE id = $1", [ending]);
  await waitFor('the finished attempt’s live log to be swept', async () => (await allChunks(db.pool, ending)).length === 0, 20_000);
  // A retry makes attempt 1 stale, whatever the run's status.
  await db.pool.query('UPDATE run SET attempt = 2 WHERE id = $1', [running]);
  const second = new LiveLogWriter(db.pool, running, 2, 0);
  await second.add([logLine(2)]);
  await second.flush();
  await waitFor('the stale attempt’s live log to be swept', async () => (await allChunks(db.pool, running, 1)).length === 0, 20_000);
  t.is((await allChunks(db.pool, running, 2)).length, 1, 'the live log of the attempt in flight is kept');
});
