import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { mintAgentToken } from '../../core/agent/token.js';
import type { DataDetail } from '../../core/data/model.js';
import { withTx } from '../../core/db/pool.js';
import { beginAttempt } from '../../core/run/attempt.js';
import { matchOutbox } from '../../core/run/matching.js';
import { setStatus } from '../../core/run/store.js';
import type { TestApi } from './api.js';
import { testPlan } from './records.js';
import { tempDir } from './tmp.js';

export const AGENT_SECRET = 'a-test-agent-secret-of-at-least-32-chars';

export interface RunningAttempt {
  runId: string;
  attempt: number;
  token: string;
  inputs: DataDetail[];
  outputs: Array<{ idx: number; path: string; dataId: string }>;
}

/** Writes `files` (relative path → content) into a new folder. */
export async function folderWith(files: Record<string, string>): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const dir = await tempDir('knit-agent-');
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir.path, name)), { recursive: true });
    await writeFile(join(dir.path, name), content);
  }
  return dir;
}

/**
 * A run at its first attempt, `running`, of a new plan with these inputs (pushed through the API,
 * so their archives are real) and `outputs` outputs: what a Pod's agent meets.
 */
export async function runningAttempt(api: TestApi, inputs: Array<Record<string, string>>, outputs: number): Promise<RunningAttempt> {
  const suite = randomUUID().slice(0, 8);
  const pushed: DataDetail[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const dir = await folderWith(inputs[i]!);
    try {
      pushed.push(await api.client.pushDirectory(dir.path, [`agent-${suite}:in${i}`]));
    } finally {
      await dir.cleanup();
    }
  }
  const plan = await testPlan(api.db.pool, {
    image: 'knit-test/busybox:1',
    inputs: inputs.map((_, i) => ({ path: `/in/${i}`, tags: [`agent-${suite}:in${i}`] })),
    outputs: Array.from({ length: outputs }, (_, i) => ({ path: `/out/${i}` })),
  });
  for (;;) if (!(await matchOutbox(api.db.pool)).more) break;
  const run = await api.db.pool.query<{ id: string }>('SELECT id FROM run WHERE plan_id = $1', [plan.id]);
  if (run.rows.length !== 1) throw new Error(`expected one run of plan ${plan.id}, found ${run.rows.length}`);
  const runId = run.rows[0]!.id;
  const begun = await withTx(api.db.pool, (tx) => beginAttempt(tx, runId));
  if (!begun.begun) throw new Error(`the attempt did not begin: ${begun.reason}`);
  await setStatus(api.db.pool, runId, 1, 'starting');
  await setStatus(api.db.pool, runId, 1, 'running');
  return { runId, attempt: 1, token: mintAgentToken(AGENT_SECRET, { runId, attempt: 1 }), inputs: pushed, outputs: begun.context.outputs };
}
