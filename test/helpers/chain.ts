import type { ExecutionContext } from 'ava';
import { DockerEngine } from '../../executor/docker/engine.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KnitClient } from '../../client/knit-client.js';
import type { PlanDetail } from '../../core/plan/model.js';
import type { ContainerCreateWatch } from './docker-events.js';
import { TEST_IMAGE, type TestStack } from './stack.js';
import { tempDir } from './tmp.js';
import { waitFor } from './wait.js';

/**
 * A two-plan chain for chaos tests: plan A copies its one input to an output tagged for plan B,
 * plan B copies that on. N pushes make N A-runs and then N B-runs.
 */
export interface Chain {
  readonly a: PlanDetail;
  readonly b: PlanDetail;
  readonly inTag: string;
}

export async function applyChain(client: KnitClient, name: string, opts: { sleepA?: number; sleepB?: number } = {}): Promise<Chain> {
  const inTag = `${name}:a-in`;
  const plan = async (sleep: number, from: string, to: string) =>
    (
      await client.applyPlan({
        image: TEST_IMAGE,
        entrypoint: ['sh', '-c'],
        args: [`sleep ${sleep}; cat /in/x/n > /out/o/n`],
        inputs: [{ path: '/in/x', tags: [from] }],
        outputs: [{ path: '/out/o', tags: [to] }],
      })
    ).plan!;
  const a = await plan(opts.sleepA ?? 1, inTag, `${name}:b-in`);
  const b = await plan(opts.sleepB ?? 1, `${name}:b-in`, `${name}:b-out`);
  return { a, b, inTag };
}

/** Pushes the chain's n-th input Data (a file `n` holding n) and returns its id. */
export async function pushChainInput(client: KnitClient, chain: Chain, n: number): Promise<string> {
  const dir = await tempDir('knit-chain-');
  try {
    await writeFile(join(dir.path, 'n'), String(n));
    return (await client.pushDirectory(dir.path, [chain.inTag])).id;
  } finally {
    await dir.cleanup();
  }
}

const sorted = (xs: string[]) => [...xs].sort();

/**
 * Asserts the chain's exactly-once invariants from the database and Docker: one run per
 * (plan, inputs), every combination run and done, no Data left transient, each done run with
 * exactly its outputs, each output with one producer, one container ever created per run, and no
 * container of the instance left behind.
 */
export async function assertChainExactlyOnce(t: ExecutionContext, s: TestStack, chain: Chain, pushed: string[], watch: ContainerCreateWatch): Promise<void> {
  const q = async <R extends Record<string, unknown>>(sql: string, params: unknown[] = []) => (await s.db.pool.query<R>(sql, params)).rows;
  const runs = await q<{ id: string; plan_id: string; input_key: string; status: string; attempt: number; data_id: string }>(
    `SELECT r.id, r.plan_id, r.input_key, r.status, r.attempt, ri.data_id FROM run r JOIN run_input ri ON ri.run_id = r.id WHERE r.plan_id = ANY($1)`,
    [[chain.a.id, chain.b.id]],
  );
  const aRuns = runs.filter((r) => r.plan_id === chain.a.id);
  const bRuns = runs.filter((r) => r.plan_id === chain.b.id);
  t.is(aRuns.length, pushed.length, 'one A-run per pushed Data');
  t.is(bRuns.length, pushed.length, 'one B-run per A output');
  t.is(new Set(runs.map((r) => `${r.plan_id}/${r.input_key}`)).size, runs.length, 'no duplicate (plan, inputs)');
  t.deepEqual(sorted(aRuns.map((r) => r.data_id)), sorted(pushed), 'every pushed Data was an A input exactly once');
  const notDone = runs.filter((r) => r.status !== 'done');
  t.deepEqual(notDone.map((r) => `${r.id} ${r.status}`), [], 'every run done');
  t.deepEqual(runs.filter((r) => r.attempt !== 1).map((r) => r.id), [], 'no run needed a second attempt');

  const outputs = await q<{ id: string; producer_run_id: string; producer_output: string; transient: string | null }>(
    `SELECT id, producer_run_id, producer_output, transient FROM data WHERE producer_run_id IS NOT NULL`,
  );
  const aOutputs = outputs.filter((d) => d.producer_output === '/out/o' && aRuns.some((r) => r.id === d.producer_run_id));
  t.deepEqual(sorted(bRuns.map((r) => r.data_id)), sorted(aOutputs.map((d) => d.id)), 'every A output was a B input exactly once');
  const transient = await q<{ id: string; transient: string }>(`SELECT id, transient FROM data WHERE transient IS NOT NULL`);
  t.deepEqual(transient, [], 'no Data left knit#transient');
  const byRun = new Map<string, string[]>();
  for (const d of outputs) byRun.set(d.producer_run_id, [...(byRun.get(d.producer_run_id) ?? []), d.producer_output]);
  const wrong = runs.filter((r) => (byRun.get(r.id) ?? []).sort().join(',') !== '/out/o,log').map((r) => `${r.id}: ${JSON.stringify(byRun.get(r.id) ?? [])}`);
  t.deepEqual(wrong, [], 'each run has exactly one output Data and one log');
  const uploads = await q<{ n: number }>(`SELECT count(*)::int AS n FROM data WHERE producer_run_id IS NULL`);
  t.is(uploads[0]!.n, pushed.length, 'no Data without a producer except the uploads');

  const creates = watch.stop();
  const twice = [...creates].filter(([, n]) => n !== 1).map(([run, n]) => `${run}: ${n}`);
  t.deepEqual(twice, [], 'one container ever created per run');
  t.is(creates.size, runs.length, 'a container for every run');
  const engine = new DockerEngine();
  await waitFor('the instance to have no containers left', async () => (await engine.list({ 'knit.instance': s.instance })).length === 0, 60_000, 500).catch(() => {});
  const left = (await engine.list({ 'knit.instance': s.instance })).length;
  t.is(left, 0, 'no orphaned container of the instance');
}
