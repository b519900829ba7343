import { randomUUID } from 'node:crypto';
import { insertData } from '../../core/data/db.js';
import { withTx, type Pool } from '../../core/db/pool.js';
import { parseTag } from '../../core/tags/tag.js';
import { testData, testPlan } from './records.js';

/**
 * Lineage graphs written straight to the tables, for tests of the lineage query: runs of a
 * two-input plan (`/in/0`, `/in/1`) with one output (`/out/0`) and a log, each run done with exit 0
 * unless told otherwise.
 */
export async function lineageFixture(pool: Pool) {
  const tag = `lineage:${randomUUID().slice(0, 8)}`;
  const plans = new Map<number, string>();
  const planFor = async (inputs: number): Promise<string> => {
    let id = plans.get(inputs);
    if (!id) {
      const plan = await testPlan(pool, {
        image: `lineage/step${inputs}:1`,
        inputs: Array.from({ length: inputs }, (_, i) => ({ path: `/in/${i}`, tags: [`${tag}-${i}`] })),
        outputs: [{ path: '/out/0', tags: [`${tag}-out`] }],
      });
      plans.set(inputs, (id = plan.id));
    }
    return id;
  };
  let plansMade = 0;
  return {
    upload: async (...tags: string[]) => (await testData(pool, tag, ...tags)).id,
    /** An upload of content with this digest (`sha256:` and 64 hex digits) and size. */
    async uploadContent(content: { digest: string; size: number }, ...tags: string[]): Promise<string> {
      const id = randomUUID();
      await withTx(pool, (tx) => insertData(tx, { id, size: content.size, digest: content.digest, blobKey: `data/${id}`, tags: [tag, ...tags].map((t) => parseTag(t, 'tag')) }));
      return id;
    },
    /**
     * A plan of its own reading `/in/0`.. `/in/<inputs - 1>` (or `paths`), writing `/out/0`, with the
     * rest of its spec (image, entrypoint, args, resources, network) from `spec`; its id.
     */
    async plan(inputs: number, spec: Record<string, unknown> = {}, paths?: string[]): Promise<string> {
      const n = plansMade++;
      const plan = await testPlan(pool, {
        image: 'lineage/custom:1',
        inputs: (paths ?? Array.from({ length: inputs }, (_, i) => `/in/${i}`)).map((path, i) => ({ path, tags: [`${tag}-p${n}-${i}`] })),
        outputs: [{ path: '/out/0', tags: [`${tag}-out`] }],
        ...spec,
      });
      return plan.id;
    },
    /** A run reading `inputs` (of `opts.plan`, or the fixture's plan of that many inputs); its output Data id, its log Data id and its own id. */
    async run(inputs: string[], opts: { status?: string; exitCode?: number | null; plan?: string } = {}): Promise<{ run: string; out: string; log: string }> {
      const run = randomUUID();
      const planId = opts.plan ?? (await planFor(inputs.length));
      // Two runs of one plan may read the same Data here (a diamond drawn with one plan): the key is made unique.
      await pool.query(`INSERT INTO run (id, plan_id, input_key, status, exit_code) VALUES ($1, $2, $3, $4, $5)`, [run, planId, `${inputs.join(',')}#${run}`, opts.status ?? 'done', opts.exitCode === undefined ? 0 : opts.exitCode]);
      for (const [idx, dataId] of inputs.entries()) await pool.query('INSERT INTO run_input (run_id, idx, data_id) VALUES ($1, $2, $3)', [run, idx, dataId]);
      const out = randomUUID();
      const log = randomUUID();
      for (const [id, output] of [[out, '/out/0'], [log, 'log']] as const) {
        await pool.query(
          `INSERT INTO data (id, created_at, size, digest, blob_key, producer_run_id, producer_output) VALUES ($1, now(), 1, $2, $3, $4, $5)`,
          [id, `sha256:${'0'.repeat(64)}`, `data/${id}`, run, output],
        );
      }
      await pool.query('INSERT INTO data_tag (data_id, key, value) VALUES ($1, $2, $3)', [out, 'made-by', run.slice(0, 8)]);
      return { run, out, log };
    },
  };
}
