import test from 'ava';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase } from '../helpers/db.js';
import { spawnKnitd } from '../helpers/knitd.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

async function setup(t: import('ava').ExecutionContext) {
  const db = await createTestDatabase();
  const home = await tempDir('knit-home-');
  t.teardown(async () => {
    await db.drop();
    await home.cleanup();
  });
  const storage = join(home.path, 'storage');
  return { env: { DATABASE_URL: db.url, KNIT_HOME: home.path }, incoming: join(storage, 'incoming'), objects: join(storage, 'objects', 'data') };
}

const exists = async (dir: string, name: string) => (await readdir(dir).catch(() => [] as string[])).includes(name);

test('leftovers of an upload interrupted while knitd runs are swept without a restart', async (t) => {
  const s = await setup(t);
  const knitd = await spawnKnitd({ ...s.env, KNIT_GC_GRACE_SECONDS: '0', KNIT_GC_INTERVAL_SECONDS: '1' });
  t.teardown(() => knitd.stop());
  // Made after start-up, so only a sweep while running can remove them.
  await mkdir(s.incoming, { recursive: true });
  await writeFile(join(s.incoming, 'interrupted-upload'), 'partial');
  await mkdir(s.objects, { recursive: true });
  await writeFile(join(s.objects, '11111111-2222-4333-8444-555555555555'), 'an object whose row never committed');
  await waitFor('the partial upload to be swept', async () => !(await exists(s.incoming, 'interrupted-upload')), 20_000);
  await waitFor('the orphan object to be swept', async () => !(await exists(s.objects, '11111111-2222-4333-8444-555555555555')), 20_000);
  t.pass();
});

test('the periodic sweep spares uploads younger than the grace period', async (t) => {
  const s = await setup(t);
  const knitd = await spawnKnitd({ ...s.env, KNIT_GC_GRACE_SECONDS: '3600', KNIT_GC_INTERVAL_SECONDS: '1' });
  t.teardown(() => knitd.stop());
  await mkdir(s.incoming, { recursive: true });
  await writeFile(join(s.incoming, 'in-progress-elsewhere'), 'x');
  // Several sweep intervals.
  await sleep(3500);
  t.true(await exists(s.incoming, 'in-progress-elsewhere'));
});
