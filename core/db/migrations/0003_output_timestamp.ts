import type { Migration } from '../migrate.js';

export const m0003: Migration = {
  version: 3,
  name: 'an output is timestamped when its run finishes',
  sql: `
-- As in Knitfab, an output's knit#timestamp is when its run finished and the output became
-- Data, not when the run began. So its created_at may move while it is still being produced;
-- once it has content, it is as fixed as everything else.
CREATE OR REPLACE FUNCTION data_content_immutable() RETURNS trigger AS $$
BEGIN
  IF NEW.id <> OLD.id
     OR (OLD.transient IS DISTINCT FROM 'processing' AND NEW.created_at <> OLD.created_at)
     OR NEW.producer_run_id IS DISTINCT FROM OLD.producer_run_id
     OR NEW.producer_output IS DISTINCT FROM OLD.producer_output
     OR (OLD.size IS NOT NULL AND NEW.size IS DISTINCT FROM OLD.size)
     OR (OLD.digest IS NOT NULL AND NEW.digest IS DISTINCT FROM OLD.digest)
     OR (OLD.blob_key IS NOT NULL AND NEW.blob_key IS DISTINCT FROM OLD.blob_key) THEN
    RAISE EXCEPTION 'data % is immutable', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
`,
};
