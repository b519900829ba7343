import type { Migration } from '../migrate.js';

export const m0004: Migration = {
  version: 4,
  name: 'a plan whose matching failed is marked, and retried later',
  sql: `
-- Set when creating a plan's runs failed (timed out, errored, or would have created too many at
-- once): the matcher rolls back only that plan, carries on with the others, and tries it again
-- from match_retry_at, backing off. Cleared by the next full pass that succeeds.
ALTER TABLE plan
  ADD COLUMN match_error     text,
  ADD COLUMN match_failed_at timestamptz,
  ADD COLUMN match_failures  int NOT NULL DEFAULT 0,
  ADD COLUMN match_retry_at  timestamptz;
CREATE INDEX plan_match_retry_idx ON plan (match_retry_at) WHERE match_error IS NOT NULL;
`,
};
