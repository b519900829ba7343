import type { Migration } from '../migrate.js';

export const m0007: Migration = {
  version: 7,
  name: 'outputs uploaded by a Kubernetes Pod\'s agent, per attempt',
  sql: `
-- The agent sidecar uploads each output to knitd, which stores it at its Data's blob key and
-- records it here; the Pod executor's collect() reads these rows. Until the attempt finishes, the
-- Data row has no blob_key yet, so this row is also what keeps the garbage sweep off the blob.
-- Dropping a run's outputs (retry, invalidate) deletes the Data, and with it these rows.
CREATE TABLE attempt_upload (
  run_id       uuid NOT NULL REFERENCES run (id),
  attempt      int NOT NULL CHECK (attempt > 0),
  idx          int NOT NULL CHECK (idx >= 0),
  data_id      uuid NOT NULL REFERENCES data (id) ON DELETE CASCADE,
  size         bigint NOT NULL CHECK (size >= 0),
  digest       text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  blob_key     text NOT NULL,
  -- why the agent uploaded an empty archive instead (entries breaking knit's Data rules)
  problem      text,
  uploaded_at  timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
  PRIMARY KEY (run_id, attempt, idx)
);
CREATE INDEX attempt_upload_blob_key_idx ON attempt_upload (blob_key);
CREATE INDEX attempt_upload_data_idx ON attempt_upload (data_id);
`,
};
