import { rmSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { UnsafeEntryError } from '../core/archive/entry-rules.js';
import { packDirectory, planPack, type PackPlan } from '../core/archive/pack.js';
import { END_OF_ARCHIVE } from '../core/archive/tar-format.js';
import { KeepEnv, readEnv } from './env.js';
import { fetchInputs } from './fetch.js';
import { log } from './log.js';
import { putWithDigest, withRetries } from './transport.js';

/** What knitd answers for a stored output. */
interface Stored {
  size: number;
  digest: string;
  problem: string | null;
}

/**
 * Packs and uploads one output. A tree that breaks knit's Data rules (a device file, a symlink
 * pointing out) is not partly uploaded: an empty archive goes up instead, with the reason in
 * `x-knit-problem`, so the run fails saying why rather than keeping half an output.
 */
async function keepOne(env: KeepEnv, idx: number, dir: string): Promise<void> {
  const url = `${env.KNIT_AGENT_URL}/api/agent/runs/${env.KNIT_RUN}/attempts/${env.KNIT_ATTEMPT}/outputs/${idx}`;
  const what = `output ${idx}`;
  const stored = await withRetries(what, { tries: env.KNIT_AGENT_TRIES, backoffMs: env.KNIT_AGENT_BACKOFF_MS }, async () => {
    // Planned again on each try: a retried upload must send the tree as it is, not a stale walk.
    let plan: PackPlan | undefined;
    let problem: string | undefined;
    try {
      plan = await planPack(dir);
    } catch (err) {
      if (!(err instanceof UnsafeEntryError)) throw new Error(`${what}: cannot read ${dir}: ${(err as Error).message}`, { cause: err });
      problem = `${what}: ${err.message}`;
    }
    const body = plan ? packDirectory(dir, plan) : Readable.from([END_OF_ARCHIVE]);
    const headers: Record<string, string> = problem === undefined ? {} : { 'x-knit-problem': encodeURIComponent(problem) };
    return (await putWithDigest(url, env.KNIT_AGENT_TOKEN, body, headers, what)) as Stored;
  });
  log(`${what}: stored ${stored.size} bytes (${stored.digest})${stored.problem ? `; problem: ${stored.problem}` : ''} from ${dir}`);
}

export async function keepOutputs(env: KeepEnv): Promise<void> {
  for (const { idx, dir } of env.KNIT_OUTPUTS) await keepOne(env, idx, dir);
  log(`uploaded ${env.KNIT_OUTPUTS.length} output(s)`);
}

/**
 * `keep`: the native sidecar. It fetches the inputs (when given), then idles while the user's container runs; the kubelet sends SIGTERM
 * once every main container has exited, and that is the moment the outputs are complete.
 * The configuration is checked up front, so a bad Pod spec fails at start, not after the run.
 */
export async function keep(): Promise<number> {
  const env = readEnv(KeepEnv);
  // The inputs first: the pid file is what lets the run container start (ready --wait), so it
  // starts only once they are all in place. A failure ends keep with the reason, before the run.
  if (env.KNIT_INPUTS && env.KNIT_INPUTS.length > 0) await fetchInputs({ ...env, KNIT_INPUTS: env.KNIT_INPUTS });
  const pidFile = env.KNIT_KEEP_PID_FILE;
  writeFileSync(pidFile, `${process.pid}\n`);
  log(`keep: waiting for SIGTERM to upload ${env.KNIT_OUTPUTS.length} output(s) (pid ${process.pid} in ${pidFile})`);
  return new Promise((resolve, reject) => {
    // Keeps the event loop alive while idling; the signal handler is what ends the wait.
    const idle = setInterval(() => {}, 1 << 30);
    let uploading = false;
    process.on('SIGTERM', () => {
      if (uploading) return log('keep: SIGTERM again; still uploading');
      uploading = true;
      clearInterval(idle);
      log('keep: SIGTERM: uploading outputs');
      keepOutputs(env)
        .finally(() => rmSync(pidFile, { force: true }))
        .then(() => resolve(0), reject);
    });
  });
}
