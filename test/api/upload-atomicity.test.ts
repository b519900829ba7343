import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestDatabase } from '../helpers/db.js';
import { knitBin } from '../helpers/cli.js';
import { spawnKnitd } from '../helpers/knitd.js';
import { tempDir } from '../helpers/tmp.js';
import { filesUnder, writeRandomFile } from '../helpers/tree.js';
import { waitFor } from '../helpers/wait.js';

async function setup(t: import('ava').ExecutionContext, uploadBytes = 0) {
  const db = await createTestDatabase();
  const home = await tempDir('knit-home-');
  const src = await tempDir('knit-src-');
  t.teardown(async () => {
    await db.drop();
    await home.cleanup();
    await src.cleanup();
  });
  // Large enough that the upload is still streaming when the test kills a process.
  if (uploadBytes > 0) await writeRandomFile(join(src.path, 'big.bin'), uploadBytes);
  const env = { DATABASE_URL: db.url, KNIT_HOME: home.path };
  const incoming = join(home.path, 'storage', 'incoming');
  const rows = async () => Number((await db.pool.query('SELECT count(*) AS n FROM data')).rows[0].n);
  return { db, home: home.path, src: src.path, env, incoming, rows };
}

/** Starts `knit data push` and SIGKILLs it once the server has begun storing the upload. */
async function pushAndKillClient(server: string, src: string, incoming: string): Promise<void> {
  const push = spawn(process.execPath, [knitBin, 'data', 'push', '-t', 'crash:client', src], {
    env: { PATH: process.env['PATH'], KNIT_SERVER: server },
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => push.once('exit', resolve));
  await waitFor('the upload to reach the server', async () => (await filesUnder(incoming)).length > 0);
  push.kill('SIGKILL');
  await exited;
}

test('an upload whose client is killed mid-stream leaves no Data and no stored bytes', async (t) => {
  const s = await setup(t, 256 << 20);
  const knitd = await spawnKnitd(s.env);
  t.teardown(() => knitd.stop());
  await pushAndKillClient(knitd.url, s.src, s.incoming);
  await waitFor('the server to discard the partial upload', async () => (await filesUnder(join(s.home, 'storage'))).length === 0);
  t.is(await s.rows(), 0);
  const outbox = await s.db.pool.query('SELECT count(*) AS n FROM outbox');
  t.is(Number(outbox.rows[0].n), 0, 'no outbox event for a Data that never existed');
});

test('an upload whose server is killed mid-stream leaves nothing visible, and the restart sweeps its bytes', async (t) => {
  const s = await setup(t, 256 << 20);
  const first = await spawnKnitd(s.env);
  const push = spawn(process.execPath, [knitBin, 'data', 'push', s.src], { env: { PATH: process.env['PATH'], KNIT_SERVER: first.url }, stdio: 'ignore' });
  const pushed = new Promise<number | null>((resolve) => push.once('exit', resolve));
  await waitFor('the upload to reach the server', async () => (await filesUnder(s.incoming)).length > 0);
  await first.stop('SIGKILL');
  t.not(await pushed, 0, 'the client reports the failure');
  t.true((await filesUnder(s.incoming)).length > 0, 'the killed server left a partial upload behind');
  t.is(await s.rows(), 0);

  // A complete object whose transaction never committed: the other crash window.
  const orphan = join(s.home, 'storage', 'objects', 'data', '11111111-2222-4333-8444-555555555555');
  await mkdir(join(orphan, '..'), { recursive: true });
  await writeFile(orphan, 'orphan');

  const second = await spawnKnitd({ ...s.env, KNIT_GC_GRACE_SECONDS: '0' });
  t.teardown(() => second.stop());
  t.deepEqual(await filesUnder(join(s.home, 'storage')), []);
  t.is(await s.rows(), 0);
});

test('garbage collection spares uploads younger than the grace period', async (t) => {
  const s = await setup(t);
  await mkdir(s.incoming, { recursive: true });
  await writeFile(join(s.incoming, 'in-progress-elsewhere'), 'x');
  const knitd = await spawnKnitd(s.env);
  t.teardown(() => knitd.stop());
  t.deepEqual(await readdir(s.incoming), ['in-progress-elsewhere']);
});
