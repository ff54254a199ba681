-- Ephemeral room data: typing notifications and receipts. Both live in the database so any instance
-- serves any request, and both are keyed by room first (see DESIGN.md, principle 7).

-- Who is typing where, until when. A row exists only while the user is typing: stopping (explicitly, by
-- leaving the room, or by expiry) deletes it and records the change in typing_rooms.
CREATE TABLE typing (
  room_id text NOT NULL,
  user_id text NOT NULL,
  expires_ts bigint NOT NULL,
  -- The stream position at which this user started typing (refreshes keep it).
  stream_position bigint NOT NULL,
  PRIMARY KEY (room_id, user_id)
);
-- The expiry sweeper claims the oldest expired rows.
CREATE INDEX typing_expiry ON typing (expires_ts);

-- The stream position of each room's latest typing change: /sync sends a room's typing list when this
-- moved inside its range (one row per room that ever had typing, so a stop is never lost).
CREATE TABLE typing_rooms (
  room_id text PRIMARY KEY,
  stream_position bigint NOT NULL
);

-- Read receipts (m.read, m.read.private): one per room, type, user and thread, only ever moving forward.
CREATE TABLE receipts (
  room_id text NOT NULL,
  receipt_type text NOT NULL,
  user_id text NOT NULL,
  -- NULL: unthreaded; 'main': the main timeline; otherwise the thread root's event ID.
  thread_id text,
  event_id text NOT NULL,
  -- The receipted event's stream ordering: a receipt for an older event than the current one is ignored.
  event_stream_ordering bigint NOT NULL,
  -- The stream position of the last change, for /sync.
  stream_position bigint NOT NULL,
  ts bigint NOT NULL,
  CONSTRAINT receipts_key UNIQUE NULLS NOT DISTINCT (room_id, receipt_type, user_id, thread_id)
);
-- /sync: the receipts of the user's rooms changed in a stream range.
CREATE INDEX receipts_room_stream ON receipts (room_id, stream_position);
-- One user's receipts across rooms (notification counts).
CREATE INDEX receipts_user ON receipts (user_id, room_id);
