import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KnitClient, type RunDetail } from '../../client/index.js';
import { deployKnit } from '../helpers/deployment.js';
import { TEST_IMAGE } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const PUSHES = 100;
/** The push after which a worker replica is deleted. */
const DELETE_WORKER_AFTER = 30;

// Scale-out: two knitd and three workers on one PostgreSQL and one Temporal, pushes spread over
// both APIs (each addressed at its own Pod), and a worker replica deleted while Runs are in
// flight: every combination runs exactly once, and the Deployment replaces the replica.
test('two knitd and three workers: 100 pushes over both APIs while a worker is deleted, every combination runs exactly once', async (t) => {
  t.timeout(20 * 60_000);
  const d = await deployKnit({ knitd: 2, workers: 3, concurrency: 4 });
  t.teardown(() => d.close());
  const apis = (await d.pods('knitd')).filter((p) => p.ready);
  t.is(apis.length, 2);
  const clients = apis.map((p) => new KnitClient({ server: `http://${p.ip}:7420`, token: d.token }));
  const workersBefore = (await d.pods('knit-worker')).map((p) => p.name);
  t.is(workersBefore.length, 3);

  const applied = await clients[0]!.applyPlan({
    image: TEST_IMAGE,
    entrypoint: ['sh', '-c'],
    args: ['cat /in/x/n > /out/y/n; echo copied'],
    inputs: [{ path: '/in/x', tags: ['scale:in'] }],
    outputs: [{ path: '/out/y', tags: ['scale:out'] }],
    resources: { cpu: '0.05', memory: '32Mi' },
  });
  const plan = applied.plan!.id;

  const work = await mkdtemp(join(tmpdir(), 'knit-scale-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const pushed = new Map<string, number>();
  let deleted: string | undefined;
  let inFlight = 0;
  for (let i = 0; i < PUSHES; i++) {
    const dir = join(work, String(i));
    await mkdir(dir);
    await writeFile(join(dir, 'n'), `${i}\n`);
    const data = await clients[i % 2]!.pushDirectory(dir, ['scale:in']);
    pushed.set(data.id, i);
    if (i === DELETE_WORKER_AFTER) {
      // Graceful, as a rollout or a scale-down does it: SIGTERM, then the Pod goes.
      deleted = workersBefore[1]!;
      inFlight = (await clients[1]!.findRuns({ plans: [plan] })).filter((r) => !['done', 'failed', 'invalidated'].includes(r.status)).length;
      await d.kubectl(['delete', 'pod', deleted, '--wait=false']);
    }
  }
  t.is(pushed.size, PUSHES);
  t.true(inFlight > 0, 'runs were in flight when the worker was deleted');

  let runs: RunDetail[] = [];
  try {
    await waitFor(`all ${PUSHES} runs to end`, async () => {
      runs = await clients[1]!.findRuns({ plans: [plan] });
      return runs.length >= PUSHES && runs.every((r) => ['done', 'failed', 'invalidated'].includes(r.status));
    }, 15 * 60_000, 2000);
  } catch (err) {
    const by = runs.reduce<Record<string, number>>((m, r) => ((m[r.status] = (m[r.status] ?? 0) + 1), m), {});
    throw new Error(`${(err as Error).message} (${runs.length} runs: ${JSON.stringify(by)})\n${await d.diagnostics()}`);
  }

  // Exactly once: one Run per pushed Data, none for anything else, each done with its own output.
  t.is(runs.length, PUSHES);
  const perInput = new Map<string, number>();
  for (const r of runs) perInput.set(r.inputs[0]!.dataId, (perInput.get(r.inputs[0]!.dataId) ?? 0) + 1);
  t.deepEqual([...perInput.keys()].sort(), [...pushed.keys()].sort());
  t.true([...perInput.values()].every((n) => n === 1));
  t.deepEqual(runs.filter((r) => r.status !== 'done').map((r) => `${r.id} ${r.status} ${r.message ?? ''}`), []);
  const outputs = runs.map((r) => r.outputs[0]!.dataId);
  t.is(new Set(outputs).size, PUSHES);
  // No run stored any of its outputs (its Data or its log) twice, whichever worker finished it.
  const { rows } = await d.db.pool.query<{ output: string; n: number; runs: number }>(
    'SELECT producer_output AS output, count(*)::int AS n, count(DISTINCT producer_run_id)::int AS runs FROM data WHERE producer_run_id = ANY($1::uuid[]) GROUP BY producer_output',
    [runs.map((r) => r.id)],
  );
  t.true(rows.length > 0);
  for (const r of rows) t.deepEqual({ n: r.n, runs: r.runs }, { n: PUSHES, runs: PUSHES }, `output ${r.output}: one Data per run`);
  // Spot-check content through the other API: each output holds its own input's number.
  for (const r of runs.slice(0, 5)) {
    const { stream } = await clients[0]!.openData(r.outputs[0]!.dataId!);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    t.true(Buffer.concat(chunks).includes(Buffer.from(`${pushed.get(r.inputs[0]!.dataId)}\n`)), `run ${r.id}`);
  }

  // The deleted replica is gone and replaced.
  await waitFor('the worker Deployment to be whole again', async () => {
    const now = await d.pods('knit-worker');
    return now.length === 3 && now.every((p) => p.ready) && !now.some((p) => p.name === deleted);
  }, 120_000);
});
