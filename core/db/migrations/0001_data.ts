import type { Migration } from '../migrate.js';

export const m0001: Migration = {
  version: 1,
  name: 'data registry',
  sql: `
CREATE TABLE data (
  id          uuid PRIMARY KEY,
  created_at  timestamptz NOT NULL,
  size        bigint NOT NULL CHECK (size >= 0),
  digest      text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  blob_key    text NOT NULL UNIQUE
);
CREATE INDEX data_created_at_idx ON data (created_at, id);

-- Data content is immutable: only tags change. Enforced here so no code path can forget it.
CREATE FUNCTION data_content_immutable() RETURNS trigger AS $$
BEGIN
  IF NEW.id <> OLD.id OR NEW.created_at <> OLD.created_at OR NEW.size <> OLD.size
     OR NEW.digest <> OLD.digest OR NEW.blob_key <> OLD.blob_key THEN
    RAISE EXCEPTION 'data % is immutable', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER data_content_immutable BEFORE UPDATE ON data
  FOR EACH ROW EXECUTE FUNCTION data_content_immutable();

CREATE TABLE data_tag (
  data_id  uuid NOT NULL REFERENCES data (id) ON DELETE CASCADE,
  key      text NOT NULL,
  value    text NOT NULL,
  PRIMARY KEY (data_id, key, value)
);
CREATE INDEX data_tag_key_value_idx ON data_tag (key, value, data_id);

-- Changes that matter to the matcher, written in the same transaction as the change itself.
CREATE TABLE outbox (
  seq         bigserial PRIMARY KEY,
  kind        text NOT NULL,
  subject_id  uuid NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
`,
};
