import { z } from 'zod';
import { SelectorTag, TagKey, UserTag, formatTag, formatTimestamp, isSystemKey, TAG_ID, TAG_TIMESTAMP, TAG_TRANSIENT, type Tag } from '../tags/tag.js';
import { LIMITS } from '../limits/limits.js';
import { bounded, durationNeedsSince, repeated, timeWindow } from '../validation/query.js';
import { pageQuery } from '../page/page.js';

/** Where a Data came from: uploaded by a user, or written by a Run (at an output path, or `log`). */
export const DataOrigin = z.discriminatedUnion('type', [
  z.object({ type: z.literal('upload') }),
  z.object({ type: z.literal('run'), runId: z.string(), output: z.string() }),
]);
export type DataOrigin = z.infer<typeof DataOrigin>;

/** A Data as the API returns it. `tags` includes the system tags, each as `key:value`. */
export const DataDetail = z.object({
  id: z.string(),
  tags: z.array(z.string()),
  /** Null while the producing run is still writing it. */
  size: z.number().int().nonnegative().nullable(),
  digest: z.string().nullable(),
  createdAt: z.string(),
  origin: DataOrigin,
});
export type DataDetail = z.infer<typeof DataDetail>;

export type Transient = 'processing' | 'failed';

/** The stored shape, before system tags are derived. */
export interface DataRecord {
  id: string;
  createdAt: Date;
  size: number | null;
  digest: string | null;
  tags: Tag[];
  producerRunId: string | null;
  producerOutput: string | null;
  transient: Transient | null;
}

export function systemTags(d: Pick<DataRecord, 'id' | 'createdAt' | 'transient'>): Tag[] {
  const tags = [
    { key: TAG_ID, value: d.id },
    { key: TAG_TIMESTAMP, value: formatTimestamp(d.createdAt) },
  ];
  if (d.transient) tags.push({ key: TAG_TRANSIENT, value: d.transient });
  return tags;
}

export function toDataDetail(d: DataRecord): DataDetail {
  return {
    id: d.id,
    tags: [...systemTags(d), ...d.tags].map(formatTag),
    size: d.size,
    digest: d.digest,
    createdAt: formatTimestamp(d.createdAt),
    origin: d.producerRunId === null ? { type: 'upload' } : { type: 'run', runId: d.producerRunId, output: d.producerOutput! },
  };
}

/** `PUT /api/data/{id}/tags`: removals first, then additions, all or nothing. */
export const TagChange = z
  .object({
    add: bounded(UserTag, LIMITS.tagsPerData, 'tags per Data').default([]),
    remove: bounded(UserTag, LIMITS.tagsPerData, 'tags per Data').default([]),
    removeKey: bounded(
        TagKey.superRefine((k, ctx) => {
          if (isSystemKey(k)) ctx.addIssue({ code: 'custom', message: `tag key ${JSON.stringify(k)} is reserved: knit sets "knit#" tags, users cannot remove them` });
        }),
        LIMITS.tagsPerData,
        'keys per change',
      )
      .default([]),
  })
  .strict();
export type TagChange = z.output<typeof TagChange>;

const dataFilter = { tag: repeated(SelectorTag, LIMITS.tagsPerSelector, 'tags per query'), ...timeWindow };

/** Which Data a find selects: tags ANDed, an optional time window. */
export const DataQuery = z.object(dataFilter).strict().superRefine(durationNeedsSince);
export type DataQuery = z.output<typeof DataQuery>;

/** `GET /api/data` query: the find's filter, and which page of its answer. */
export const DataListQuery = z.object({ ...dataFilter, ...pageQuery }).strict().superRefine(durationNeedsSince);

/** Tags given on upload, as query parameters `?tag=k:v&tag=...`. */
export const UploadQuery = z.object({ tag: repeated(UserTag, LIMITS.tagsPerData, 'tags per Data') }).strict();

