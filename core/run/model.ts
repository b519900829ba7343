import { z } from 'zod';
import { RunStatus } from './status.js';

export const RunDetail = z.object({
  id: z.string(),
  status: RunStatus,
  attempt: z.number().int().positive(),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  message: z.string().nullable(),
  stopRequested: z.enum(['stop', 'fail']).nullable(),
  plan: z.object({ id: z.string(), image: z.string(), entrypoint: z.array(z.string()).nullable(), args: z.array(z.string()).nullable() }),
  inputs: z.array(z.object({ path: z.string(), dataId: z.string() })),
  /** Output Data exist from the moment the run starts (tagged knit#transient:processing). */
  outputs: z.array(z.object({ path: z.string(), dataId: z.string().nullable() })),
  log: z.object({ dataId: z.string().nullable() }),
});
export type RunDetail = z.infer<typeof RunDetail>;

const list = <T extends z.ZodType>(item: T) => z.preprocess((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]), z.array(item));
const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be an id (a UUID)');

/** `GET /api/runs` query. */
export const RunQuery = z
  .object({
    plan: list(uuid),
    in: list(uuid),
    out: list(uuid),
    status: list(RunStatus),
    since: z
      .string()
      .optional()
      .transform((s, ctx) => {
        if (s === undefined) return undefined;
        const t = Date.parse(s);
        if (Number.isNaN(t)) {
          ctx.addIssue({ code: 'custom', message: `must be an RFC3339 time, got ${JSON.stringify(s)}` });
          return z.NEVER;
        }
        return new Date(t);
      }),
    duration: z.string().optional(),
  })
  .strict();
export type RunQuery = z.output<typeof RunQuery>;

export const StopRequest = z.object({ fail: z.boolean().default(false) }).strict();

/** Everything an attempt's activities need, fixed when the attempt begins. */
export interface AttemptContext {
  runId: string;
  attempt: number;
  planId: string;
  image: string;
  entrypoint: string[] | null;
  args: string[] | null;
  resources: Record<string, string>;
  onNode: { may: string[]; prefer: string[]; must: string[] };
  serviceAccount: string | null;
  inputs: Array<{ idx: number; path: string; dataId: string; blobKey: string; digest: string; size: number }>;
  outputs: Array<{ idx: number; path: string; dataId: string }>;
  log: { dataId: string };
}
