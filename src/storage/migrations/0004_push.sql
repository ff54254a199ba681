-- Push rules (client-server API, "Push Rules") and the notification counts /sync reports
-- ("Receiving notifications").

-- The rules users define themselves. Within a user's kind, a higher priority is more important.
-- conditions: override and underride rules; pattern: content rules; room and sender rules are their rule_id.
CREATE TABLE push_rules (
  user_id text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  kind text NOT NULL,
  rule_id text NOT NULL,
  priority integer NOT NULL,
  conditions jsonb,
  pattern text,
  actions jsonb NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  PRIMARY KEY (user_id, kind, rule_id)
);

-- A user's changes to server-default rules (which cannot be deleted, only disabled or given other actions).
-- NULL: as the server defines it.
CREATE TABLE push_rule_defaults (
  user_id text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  kind text NOT NULL,
  rule_id text NOT NULL,
  enabled boolean,
  actions jsonb,
  PRIMARY KEY (user_id, kind, rule_id)
);

-- The events that notify or highlight a local user, as their push rules decided when the event was
-- appended. Counts are those after the user's latest m.read / m.read.private receipt (table receipts), per
-- thread: thread_id is 'main' or the thread root's event ID. Keyed by room first (DESIGN.md, principle 7);
-- the key serves both the per-room count ranges of /sync and the clearing when the user sends an event.
CREATE TABLE event_push_actions (
  room_id text NOT NULL,
  user_id text NOT NULL,
  stream_ordering bigint NOT NULL,
  event_id text NOT NULL,
  thread_id text NOT NULL,
  notify boolean NOT NULL,
  highlight boolean NOT NULL,
  PRIMARY KEY (room_id, user_id, stream_ordering)
);
