import type { Migration } from '../migrate.js';

export const m0008: Migration = {
  version: 8,
  name: 'live logs of running attempts, in chunks',
  sql: `
-- The log of a running attempt, as the worker takes it in: numbered chunks (at most 256 KiB of
-- text each), written by whichever worker runs the container and read by every knitd's followers.
-- Rows live only while the attempt runs: they are deleted once the run's log Data is stored, and
-- by the worker's sweep for attempts that are over. core/run/live-log-db.ts owns this table.
CREATE TABLE live_log_chunk (
  run_id          uuid NOT NULL REFERENCES run (id) ON DELETE CASCADE,
  attempt         int NOT NULL CHECK (attempt > 0),
  seq             int NOT NULL CHECK (seq >= 0),
  text            text NOT NULL CHECK (octet_length(text) <= 262144),
  -- the platform's RFC3339Nano timestamp of the chunk's last line that has one (nanoseconds do
  -- not fit a timestamptz); null when none has
  last_timestamp  text,
  PRIMARY KEY (run_id, attempt, seq)
);
`,
};
