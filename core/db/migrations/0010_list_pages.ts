import type { Migration } from '../migrate.js';

export const m0010: Migration = {
  version: 10,
  name: 'keyset indexes for paginated run and plan lists',
  sql: `
-- GET /api/runs and /api/plans answer a page at a time in (created_at, id) order, resuming after
-- the last row of the page before (core/page/page.ts). With these the next page starts with an
-- index seek instead of a sort of every run; data has had data_created_at_idx since 0001.
CREATE INDEX run_created_at_idx ON run (created_at, id);
CREATE INDEX plan_created_at_idx ON plan (created_at, id);
`,
};
