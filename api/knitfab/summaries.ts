export { kfRunSummary } from '../../core/knitfab/run-detail.js';

/** The pseudo plan Knitfab names an upload's run after, and that run's id: `upload-<knitId>`. */
export const UPLOADED = 'knit#uploaded';
export const UPLOAD_RUN_PREFIX = 'upload-';
/** Where an upload's pseudo run "wrote" its Data. */
export const UPLOAD_MOUNT = '/upload';

/** The pseudo run of an upload, which Knitfab's lineage follows like any other. */
export function uploadRunSummary(d: { id: string; createdAt: Date }) {
  return { runId: `${UPLOAD_RUN_PREFIX}${d.id}`, status: 'done', updatedAt: d.createdAt.toISOString(), plan: { planId: UPLOADED, name: UPLOADED } };
}
