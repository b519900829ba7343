import { z } from 'zod';
import { parseOrThrow } from '../core/validation/parse.js';

/**
 * The agent's configuration, all from the environment the Pod executor writes into the Pod spec.
 * Each command reads only what it needs, so `ready` and `stop` work without a token or a URL.
 */

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** A JSON list of `{idx, dir}`: which input or output goes to which absolute folder. */
const Folders = z
  .string({ error: 'must be set: a JSON list such as [{"idx":0,"dir":"/knit/in0"}]' })
  .transform((s, ctx) => {
    try {
      return JSON.parse(s) as unknown;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `is not JSON: ${(err as Error).message}` });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .array(z.object({ idx: z.number().int().nonnegative(), dir: z.string().startsWith('/', 'must be an absolute path') }).strict())
      .refine((xs) => new Set(xs.map((x) => x.idx)).size === xs.length, 'lists an idx twice'),
  );

export const PidFileEnv = z.object({
  KNIT_KEEP_PID_FILE: z.string().min(1).default('/tmp/knit-keep.pid'),
});

export const TransferEnv = z.object({
  KNIT_AGENT_URL: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of knitd, such as http://10.88.0.1:7420' }).transform((u) => u.replace(/\/+$/, '')),
  KNIT_AGENT_TOKEN: z.string({ error: 'must be set: the run-scoped agent token' }).min(1, 'must not be empty'),
  KNIT_RUN: z.string({ error: 'must be set: the run id' }).regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a run id (a UUID)'),
  KNIT_ATTEMPT: z.coerce.number({ error: 'must be set: the attempt number' }).int().positive(),
  KNIT_AGENT_TRIES: positiveInt(5),
  KNIT_AGENT_BACKOFF_MS: z.coerce.number().int().nonnegative().default(500),
});

export const FetchEnv = TransferEnv.extend({ KNIT_INPUTS: Folders });
export type FetchEnv = z.output<typeof FetchEnv>;

/** keep fetches the inputs too (KNIT_INPUTS, optional) before it declares itself ready: one container fewer to start in sequence. */
export const KeepEnv = TransferEnv.extend({ KNIT_OUTPUTS: Folders, KNIT_INPUTS: Folders.optional() }).extend(PidFileEnv.shape);
export type KeepEnv = z.output<typeof KeepEnv>;

export function readEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  return parseOrThrow(schema, env, 'env');
}

/** Where a failure's one-line reason goes: Kubernetes shows it as the container's termination message. */
export function terminationLogPath(env: NodeJS.ProcessEnv = process.env): string {
  return env['KNIT_TERMINATION_LOG'] || '/dev/termination-log';
}
