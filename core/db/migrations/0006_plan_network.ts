import type { Migration } from '../migrate.js';

export const m0006: Migration = {
  version: 6,
  name: 'a plan says whether its runs may use the network',
  sql: `
-- Runs are cut off from the network unless their plan asks for it; plans applied before this
-- column existed ran with the network, but are now held to the safe default like new ones.
ALTER TABLE plan ADD COLUMN network boolean NOT NULL DEFAULT false;
`,
};
