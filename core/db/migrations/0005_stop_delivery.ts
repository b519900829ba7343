import type { Migration } from '../migrate.js';

// Numbered 5, not 4: another change in flight adds a migration 4; the runner applies whatever
// versions are missing, in order, so a gap is harmless.
export const m0005: Migration = {
  version: 5,
  name: 'a recorded stop is delivered to its run even when Temporal was down at the time',
  sql: `
-- stop_requested is the durable request; stop_delivered says the run's workflow has been told.
-- Existing stops start undelivered, so a stop dropped before this migration is delivered too
-- (telling a workflow twice is harmless).
ALTER TABLE run ADD COLUMN stop_delivered boolean NOT NULL DEFAULT false;
-- The matcher looks for these on every pass; there are seldom any.
CREATE INDEX run_stop_undelivered_idx ON run (updated_at) WHERE stop_requested IS NOT NULL AND NOT stop_delivered;
`,
};
