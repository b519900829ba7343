import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KnitClient } from '../../client/knit-client.js';
import { knitBin } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { freePort } from '../helpers/free-port.js';
import { spawnKnitd, type KnitdProcess } from '../helpers/knitd.js';
import { Random, randomSeed, seedFromEnv } from '../helpers/random.js';
import { TEST_IMAGE } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { filesUnder, writeRandomFile } from '../helpers/tree.js';
import { waitFor } from '../helpers/wait.js';

/** A running knitd sweeps upload leftovers every second, once they are two seconds old. */
const SWEEP_ENV = { KNIT_GC_INTERVAL_SECONDS: '1', KNIT_GC_GRACE_SECONDS: '2' };

/** Two knitd replicas' worth of setup on one database and one storage folder; Temporal is a closed port (no worker needed). */
async function setup(t: ExecutionContext) {
  const db = await createTestDatabase();
  const home = await tempDir('knit-apikill-');
  t.teardown(async () => {
    await db.drop();
    await home.cleanup();
  });
  const env = { DATABASE_URL: db.url, KNIT_HOME: home.path, TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`, KNIT_INSTANCE: `t${Date.now().toString(36)}` };
  const spawnApi = async (extra: Record<string, string> = {}) => {
    const api = await spawnKnitd({ ...env, ...extra });
    t.teardown(() => api.stop('SIGKILL'));
    return api;
  };
  const count = async (table: string) => Number((await db.pool.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
  return { db, home: home.path, storage: join(home.path, 'storage'), spawnApi, count };
}

function alive(api: KnitdProcess): boolean {
  return api.child.exitCode === null && api.child.signalCode === null;
}

test('knitd killed mid-upload: no Data and no object visible, and a running replica sweeps the leftovers without a restart', async (t) => {
  t.timeout(3 * 60_000);
  const s = await setup(t);
  const sweeper = await s.spawnApi(SWEEP_ENV);
  const sweeperPid = sweeper.child.pid;
  const victim = await s.spawnApi();
  const src = await tempDir('knit-apikill-src-');
  t.teardown(src.cleanup);
  await writeRandomFile(join(src.path, 'big.bin'), 256 << 20);

  const push = spawn(process.execPath, [knitBin, 'data', 'push', '-t', 'chaos:upload', src.path], { env: { PATH: process.env['PATH'], KNIT_SERVER: victim.url }, stdio: 'ignore' });
  const pushed = new Promise<number | null>((resolve) => push.once('exit', resolve));
  const incoming = join(s.storage, 'incoming');
  await waitFor('the upload to reach the server', async () => (await filesUnder(incoming)).length > 0, 60_000, 20);
  await victim.stop('SIGKILL');
  t.not(await pushed, 0, 'the client reports the failure');
  t.is(await s.count('data'), 0, 'no Data row for the interrupted upload');
  t.is(await s.count('outbox'), 0, 'no outbox event for it');
  t.deepEqual(await filesUnder(join(s.storage, 'objects')), [], 'no published object for it');
  t.deepEqual((await new KnitClient({ server: sweeper.url }).findData({})).length, 0, 'nothing listed');

  // The other crash window: an object stored whose transaction never committed.
  const orphan = join(s.storage, 'objects', 'data', '11111111-2222-4333-8444-555555555555');
  await mkdir(join(orphan, '..'), { recursive: true });
  await writeFile(orphan, 'orphan');
  const old = new Date(Date.now() - 60_000);
  await utimes(orphan, old, old);

  const left = await waitFor('the running replica to sweep the leftovers', async () => ((await filesUnder(s.storage)).length === 0 ? [] : undefined), 30_000, 250).catch(() =>
    filesUnder(s.storage),
  );
  t.deepEqual(left, [], 'leftovers swept while knitd runs (periodic sweep)');
  t.true(alive(sweeper), 'the sweeping replica was never restarted');
  t.is(sweeper.child.pid, sweeperPid);
});

test('knitd killed mid-apply, again and again: every plan is there whole or not at all', async (t) => {
  t.timeout(3 * 60_000);
  const seed = seedFromEnv(randomSeed());
  const rnd = new Random(seed);
  t.log(`seed ${seed} (replay with KNIT_CHAOS_SEED=${seed})`);
  const s = await setup(t);
  const ROUNDS = 6;
  const PLANS_PER_ROUND = 12;
  const INPUTS = 3;
  const OUTPUTS = 2;
  let sent = 0;
  const committedPerRound: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const api = await s.spawnApi();
    const client = new KnitClient({ server: api.url });
    const before = await s.count('plan');
    const applies = Array.from({ length: PLANS_PER_ROUND }, (_, i) =>
      client
        .applyPlan({
          image: TEST_IMAGE,
          entrypoint: ['sh', '-c'],
          args: [`echo ${round}-${i}`],
          inputs: Array.from({ length: INPUTS }, (_, k) => ({ path: `/in/${k}`, tags: [`apply:r${round}p${i}i${k}`, 'apply:common'] })),
          outputs: Array.from({ length: OUTPUTS }, (_, k) => ({ path: `/out/${k}`, tags: [`apply:r${round}p${i}o${k}`] })),
        })
        .catch(() => undefined),
    );
    sent += PLANS_PER_ROUND;
    // Kill it once the first apply has committed, a random moment later: the rest are in flight.
    await waitFor('a first apply to commit', async () => (await s.count('plan')) > before, 30_000, 2);
    await sleep(rnd.int(0, 25));
    await api.stop('SIGKILL');
    await Promise.all(applies);
    committedPerRound.push((await s.count('plan')) - before);
  }
  t.log(`plans committed per round (of ${PLANS_PER_ROUND} in flight when knitd was killed): ${committedPerRound.join(', ')}`);

  const shapes = await s.db.pool.query<{ id: string; inputs: number; input_tags: number; outputs: number }>(
    `SELECT p.id,
            (SELECT count(*)::int FROM plan_input i WHERE i.plan_id = p.id) AS inputs,
            (SELECT count(*)::int FROM plan_input_tag g WHERE g.plan_id = p.id) AS input_tags,
            (SELECT count(*)::int FROM plan_output o WHERE o.plan_id = p.id) AS outputs
       FROM plan p`,
  );
  const partial = shapes.rows.filter((p) => p.inputs !== INPUTS || p.input_tags !== 2 * INPUTS || p.outputs !== OUTPUTS);
  t.deepEqual(partial, [], 'no half plan in the database');
  t.true(shapes.rows.length <= sent);
  t.true(committedPerRound.some((n) => n < PLANS_PER_ROUND), 'some applies were cut off by the kill (else this test proved nothing)');

  // And through a fresh API, every plan reads back whole.
  const reader = await s.spawnApi();
  const listed = await new KnitClient({ server: reader.url }).findPlans({});
  t.is(listed.length, shapes.rows.length);
  t.deepEqual(
    listed.filter((p) => p.inputs.length !== INPUTS || p.outputs.length !== OUTPUTS).map((p) => p.id),
    [],
    'no half plan through the API',
  );
});
