-- Users who deactivated their account with `erase: true` (client-server API, "Account deactivation"):
-- their events are served redacted to users who were not joined when they were sent, and to every
-- other server (/event, /backfill, /get_missing_events). Never removed: erasure is forever.
CREATE TABLE erased_users (
  user_id text PRIMARY KEY,
  erased_ts bigint NOT NULL
);
