import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startPeriodicSweep } from '../core/data/gc-loop.js';
import { sweepLiveLogs } from '../worker/sweep.js';
import { startTestApi } from './helpers/api.js';
import { waitFor } from './helpers/wait.js';

async function runRow(api: Awaited<ReturnType<typeof startTestApi>>, planId: string, status: string): Promise<string> {
  const id = randomUUID();
  await api.db.pool.query('INSERT INTO run (id, plan_id, input_key, status) VALUES ($1, $2, $3, $4)', [id, planId, id, status]);
  return id;
}

const exists = async (dir: string, name: string) => (await readdir(dir).catch(() => [] as string[])).includes(name);

test('live-log folders of finished attempts are swept while running; those of attempts in flight are kept', async (t) => {
  const api = await startTestApi();
  t.teardown(() => api.close());
  const { plan } = await api.client.applyPlan({ image: 'repo/a:1', inputs: [{ path: '/in', tags: ['sweep:test'] }] });
  const done = await runRow(api, plan!.id, 'done');
  const running = await runRow(api, plan!.id, 'running');
  const runs = join(api.home, 'storage', 'objects', 'runs');

  const sweeper = startPeriodicSweep(100, async () => void (await sweepLiveLogs({ pool: api.db.pool, store: api.store })), (err) => t.fail(String(err)));
  t.teardown(() => sweeper.stop());

  // Created after the sweeper started, as an attempt ending while the worker runs leaves them.
  await mkdir(join(runs, done, 'a1', 'live'), { recursive: true });
  await mkdir(join(runs, running, 'a1', 'live'), { recursive: true });
  await writeFile(join(runs, running, 'a1', 'live', 'stdout'), 'still writing');
  // Not the run's current attempt (1), so over, whatever the run's status.
  await mkdir(join(runs, running, 'a2', 'live'), { recursive: true });

  await waitFor('the finished attempt’s empty live folder to be swept', async () => !(await exists(runs, done)), 20_000);
  await waitFor('the stale attempt’s empty live folder to be swept', async () => !(await exists(join(runs, running), 'a2')), 20_000);
  t.true(await exists(join(runs, running, 'a1', 'live'), 'stdout'), 'the live log of the attempt in flight is kept');
});
