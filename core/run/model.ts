import { z } from 'zod';
import { LIMITS } from '../limits/limits.js';
import { durationNeedsSince, repeated, timeWindow } from '../validation/query.js';
import { pageQuery } from '../page/page.js';
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

const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be an id (a UUID)');

const runFilter = {
  plan: repeated(uuid, LIMITS.idsPerQuery, 'plans per query'),
  in: repeated(uuid, LIMITS.idsPerQuery, 'Data per query'),
  out: repeated(uuid, LIMITS.idsPerQuery, 'Data per query'),
  status: repeated(RunStatus, LIMITS.idsPerQuery, 'statuses per query'),
  ...timeWindow,
};

/** Which runs a find selects: of these plans, reading and writing these Data, in these states, updated in a window. */
export const RunQuery = z.object(runFilter).strict().superRefine(durationNeedsSince);
export type RunQuery = z.output<typeof RunQuery>;

/** `GET /api/runs` query: the find's filter, and which page of its answer (oldest created first). */
export const RunListQuery = z.object({ ...runFilter, ...pageQuery }).strict().superRefine(durationNeedsSince);

export const StopRequest = z.object({ fail: z.boolean().default(false) }).strict();

/**
 * `POST /api/runs/{id}/stop` answer: the run, and with a 202 a `notice` that the stop is recorded
 * but has not reached the run yet (Temporal could not be reached); it will, once Temporal is back.
 */
export const StopResult = RunDetail.extend({ notice: z.string().optional() });
export type StopResult = z.infer<typeof StopResult>;

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
  /** Whether the container may use the network; absent in attempts begun before knit had the field. */
  network?: boolean;
  /** The plan's annotations when the attempt began (Pod annotations on Kubernetes); absent in older attempts. */
  annotations?: Record<string, string>;
  inputs: Array<{ idx: number; path: string; dataId: string; blobKey: string; digest: string; size: number }>;
  outputs: Array<{ idx: number; path: string; dataId: string }>;
  log: { dataId: string };
  /**
   * Variables the before hooks of ready → starting asked for (docs/hooks.md), set in the run's
   * container. Not in the database: the activity that asked returns them, so Temporal's history
   * keeps them for a replaced worker. Absent without hooks.
   */
  env?: Record<string, string>;
}
