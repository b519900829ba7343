import type { Migration } from '../migrate.js';

export const m0009: Migration = {
  version: 9,
  name: 'a notification whenever a run changes status or attempt',
  sql: `
-- Followers of a run (log -f, run wait, the console's live views, over Server-Sent Events) are
-- woken by the channel the live log already uses (core/run/live-log-db.ts), so a status change
-- reaches them at once instead of at their next fallback read. A trigger, not a call beside each
-- UPDATE: run status is written from several places (matcher, worker, stop delivery), and a
-- writer added later cannot forget it. The notification goes out when the transaction commits.
CREATE FUNCTION knit_notify_run_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('knit_live_log', NEW.id::text);
  RETURN NULL;
END;
$$;
CREATE TRIGGER run_change_notify
  AFTER UPDATE OF status, attempt ON run
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.attempt IS DISTINCT FROM NEW.attempt)
  EXECUTE FUNCTION knit_notify_run_change();
`,
};
