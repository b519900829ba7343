import type { Migration } from '../migrate.js';

export const m0002: Migration = {
  version: 2,
  name: 'plans, runs and lineage',
  sql: `
CREATE TABLE plan (
  id               uuid PRIMARY KEY,
  created_at       timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
  spec_hash        text NOT NULL UNIQUE,
  image            text NOT NULL,
  entrypoint       jsonb,
  args             jsonb,
  -- null: no log section, the log is kept untagged
  log_tags         jsonb,
  on_node          jsonb NOT NULL,
  active           boolean NOT NULL,
  resources        jsonb NOT NULL,
  service_account  text,
  annotations      jsonb NOT NULL
);

CREATE TABLE plan_input (
  plan_id  uuid NOT NULL REFERENCES plan (id),
  idx      int NOT NULL,
  path     text NOT NULL,
  PRIMARY KEY (plan_id, idx)
);
CREATE TABLE plan_input_tag (
  plan_id  uuid NOT NULL,
  idx      int NOT NULL,
  key      text NOT NULL,
  value    text NOT NULL,
  PRIMARY KEY (plan_id, idx, key, value),
  FOREIGN KEY (plan_id, idx) REFERENCES plan_input (plan_id, idx)
);
CREATE INDEX plan_input_tag_kv_idx ON plan_input_tag (key, value);

CREATE TABLE plan_output (
  plan_id  uuid NOT NULL REFERENCES plan (id),
  idx      int NOT NULL,
  path     text NOT NULL,
  tags     jsonb NOT NULL,
  PRIMARY KEY (plan_id, idx)
);

CREATE TABLE run (
  id                uuid PRIMARY KEY,
  plan_id           uuid NOT NULL REFERENCES plan (id),
  -- the input Data ids in input order: one run per (plan, combination), whatever happens
  input_key         text NOT NULL,
  status            text NOT NULL CHECK (status IN ('deactivated','waiting','ready','starting','running','completing','aborting','done','failed','invalidated')),
  attempt           int NOT NULL DEFAULT 1,
  created_at        timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
  updated_at        timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
  started_at        timestamptz,
  finished_at       timestamptz,
  exit_code         int,
  message           text,
  stop_requested    text CHECK (stop_requested IN ('stop', 'fail')),
  -- false until a workflow has been started for the current attempt
  workflow_started  boolean NOT NULL DEFAULT false,
  UNIQUE (plan_id, input_key)
);
CREATE INDEX run_to_start_idx ON run (created_at) WHERE workflow_started = false AND status = 'waiting';
CREATE INDEX run_status_idx ON run (status, updated_at);

CREATE TABLE run_input (
  run_id   uuid NOT NULL REFERENCES run (id),
  idx      int NOT NULL,
  data_id  uuid NOT NULL REFERENCES data (id),
  PRIMARY KEY (run_id, idx)
);
CREATE INDEX run_input_data_idx ON run_input (data_id);

-- Outputs of runs. Content is null while the run produces it ('processing').
ALTER TABLE data
  ADD COLUMN producer_run_id uuid REFERENCES run (id),
  ADD COLUMN producer_output text,
  ADD COLUMN transient text CHECK (transient IN ('processing', 'failed')),
  ALTER COLUMN size DROP NOT NULL,
  ALTER COLUMN digest DROP NOT NULL,
  ALTER COLUMN blob_key DROP NOT NULL,
  ADD CONSTRAINT data_content_present CHECK (transient = 'processing' OR (size IS NOT NULL AND digest IS NOT NULL AND blob_key IS NOT NULL)),
  ADD CONSTRAINT data_producer_pair CHECK ((producer_run_id IS NULL) = (producer_output IS NULL));
CREATE INDEX data_producer_idx ON data (producer_run_id);
CREATE INDEX data_eligible_idx ON data (created_at) WHERE transient IS NULL;

-- Content is written once (when a run's output is stored) and never changed after.
CREATE OR REPLACE FUNCTION data_content_immutable() RETURNS trigger AS $$
BEGIN
  IF NEW.id <> OLD.id OR NEW.created_at <> OLD.created_at
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
