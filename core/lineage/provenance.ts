import type { Queryable } from '../db/pool.js';
import { formatTag, tagsFromPairs } from '../tags/tag.js';

/** What one Data is and how it was made: its content, and its producing run, plan and inputs. */
export interface Provenance {
  id: string;
  size: number | null;
  digest: string | null;
  tags: string[];
  transient: 'processing' | 'failed' | null;
  /** Null for an upload. */
  producer: {
    runId: string;
    /** The output mount path that became this Data, or `log`. */
    output: string;
    status: string;
    planId: string;
    image: string;
    entrypoint: string[] | null;
    args: string[] | null;
    resources: Record<string, string>;
    network: boolean;
    /** The run's inputs by mount path, in the plan's order. */
    inputs: Array<{ path: string; dataId: string }>;
  } | null;
}

interface Row {
  id: string;
  size: string | number | null;
  digest: string | null;
  transient: 'processing' | 'failed' | null;
  tags: Array<[string, string]> | null;
  run_id: string | null;
  output: string | null;
  status: string | null;
  plan_id: string | null;
  image: string | null;
  entrypoint: string[] | null;
  args: string[] | null;
  resources: Record<string, string> | null;
  network: boolean | null;
  inputs: Array<{ path: string; dataId: string }> | null;
}

/**
 * The provenance of many Data in one statement: a generation of `knit data diff`'s walk costs
 * one round trip however many pairs it compares. Every join is on a key or an indexed column.
 */
export const PROVENANCE_SQL = `
SELECT d.id, d.size, d.digest, d.transient, d.producer_run_id AS run_id, d.producer_output AS output,
  (SELECT json_agg(json_build_array(g.key, g.value) ORDER BY g.key, g.value) FROM data_tag g WHERE g.data_id = d.id) AS tags,
  r.status, r.plan_id, p.image, p.entrypoint, p.args, p.resources, p.network,
  (SELECT json_agg(json_build_object('path', pi.path, 'dataId', ri.data_id) ORDER BY pi.idx)
     FROM run_input ri JOIN plan_input pi ON pi.plan_id = r.plan_id AND pi.idx = ri.idx WHERE ri.run_id = r.id) AS inputs
FROM data d LEFT JOIN run r ON r.id = d.producer_run_id LEFT JOIN plan p ON p.id = r.plan_id
WHERE d.id = ANY($1::uuid[])`;

/** The provenance of each of `ids` that exists, by id. */
export async function loadProvenance(q: Queryable, ids: readonly string[]): Promise<Map<string, Provenance>> {
  const r = await q.query<Row>(PROVENANCE_SQL, [[...new Set(ids)]]);
  return new Map(
    r.rows.map((row) => [
      row.id,
      {
        id: row.id,
        size: row.size === null ? null : Number(row.size),
        digest: row.digest,
        tags: tagsFromPairs(row.tags).map(formatTag),
        transient: row.transient,
        producer:
          row.run_id === null
            ? null
            : {
                runId: row.run_id,
                output: row.output!,
                status: row.status!,
                planId: row.plan_id!,
                image: row.image!,
                entrypoint: row.entrypoint,
                args: row.args,
                resources: row.resources ?? {},
                network: row.network ?? false,
                inputs: row.inputs ?? [],
              },
      },
    ]),
  );
}
