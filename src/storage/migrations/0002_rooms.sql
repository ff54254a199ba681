-- Rooms, events, room state and the stream every client follows in /sync.
-- Data that grows with traffic is keyed by room_id first (events, state, memberships, receipts), so the
-- schema can one day be partitioned by room.

-- One position for every change a client can see through /sync (events, account data, receipts, typing,
-- to-device, device lists). Sync tokens are positions in this sequence.
CREATE SEQUENCE stream_seq;

-- The stream fence. Every transaction that takes positions from stream_seq first holds this advisory
-- lock (shared, so writers never wait for each other). Taking it exclusively therefore waits for every
-- writer that may hold an uncommitted position, so the sequence's last value is then a position below
-- which everything has committed or rolled back: readers never skip a position that commits later.
CREATE FUNCTION stream_fence() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  last bigint;
  called boolean;
BEGIN
  PERFORM pg_advisory_xact_lock(7386051113);
  SELECT last_value, is_called INTO last, called FROM stream_seq;
  RETURN CASE WHEN called THEN last ELSE 0 END;
END
$$;

-- What each position touched, for instances to wake the /sync requests that care. Pruned after a while.
CREATE TABLE stream_log (
  position bigint PRIMARY KEY,
  kind text NOT NULL,
  room_id text,
  user_id text
);

CREATE TABLE rooms (
  room_id text PRIMARY KEY,
  room_version text NOT NULL,
  creator text NOT NULL,
  created_ts bigint NOT NULL,
  -- Published in this server's room directory.
  is_public boolean NOT NULL DEFAULT false,
  -- The state group of the room's current state.
  state_group bigint
);

-- The PDUs of every room. json is the event exactly as built or received (text, so \u0000 escapes survive).
CREATE TABLE events (
  room_id text NOT NULL,
  event_id text NOT NULL,
  -- Position in stream_seq: the order /sync delivers events in.
  stream_ordering bigint NOT NULL,
  -- Position in the room's DAG: the order /messages paginates in.
  depth bigint NOT NULL,
  type text NOT NULL,
  state_key text,
  sender text NOT NULL,
  origin_server_ts bigint NOT NULL,
  json text NOT NULL,
  -- Relations (m.relates_to), for bundled aggregations, /relations and threads.
  relates_to text,
  rel_type text,
  -- State of the room after this event (for state events, including it).
  state_group bigint,
  -- For state events: the event this one replaced in the room state (clients get its content as prev_content).
  replaces_state text,
  rejected_reason text,
  PRIMARY KEY (room_id, event_id)
);
CREATE UNIQUE INDEX events_stream ON events (stream_ordering);
CREATE INDEX events_room_stream ON events (room_id, stream_ordering);
CREATE INDEX events_room_depth ON events (room_id, depth, stream_ordering);
CREATE INDEX events_event_id ON events (event_id);
CREATE INDEX events_relations ON events (room_id, relates_to, rel_type) WHERE relates_to IS NOT NULL;
-- A room's history of one kind of state (history visibility, one user's membership) in stream order.
CREATE INDEX events_room_state ON events (room_id, type, state_key, stream_ordering) WHERE state_key IS NOT NULL;

-- The DAG's forward extremities: the events new events reference as prev_events.
CREATE TABLE room_extremities (
  room_id text NOT NULL,
  event_id text NOT NULL,
  PRIMARY KEY (room_id, event_id)
);

-- Redactions applied: the redacted event is served redacted from then on.
CREATE TABLE redactions (
  room_id text NOT NULL,
  event_id text NOT NULL,
  redacted_by text NOT NULL,
  PRIMARY KEY (room_id, event_id, redacted_by)
);

-- State groups: the state after an event, stored as a delta against a previous group (chains are cut
-- short with a full snapshot every so often).
CREATE SEQUENCE state_group_seq;
CREATE TABLE state_groups (
  room_id text NOT NULL,
  id bigint NOT NULL,
  prev_group bigint,
  chain_length integer NOT NULL,
  PRIMARY KEY (room_id, id)
);
CREATE TABLE state_group_entries (
  room_id text NOT NULL,
  group_id bigint NOT NULL,
  type text NOT NULL,
  state_key text NOT NULL,
  event_id text NOT NULL,
  PRIMARY KEY (room_id, group_id, type, state_key)
);

-- The room's current state, one row per (type, state_key).
CREATE TABLE current_state (
  room_id text NOT NULL,
  type text NOT NULL,
  state_key text NOT NULL,
  event_id text NOT NULL,
  -- For m.room.member: the membership, so member lists need no JSON parsing.
  membership text,
  PRIMARY KEY (room_id, type, state_key)
);
CREATE INDEX current_state_members ON current_state (room_id, membership) WHERE type = 'm.room.member';

-- Each user's current membership of each room (the m.room.member state, indexed by user).
CREATE TABLE room_memberships (
  room_id text NOT NULL,
  user_id text NOT NULL,
  membership text NOT NULL,
  event_id text NOT NULL,
  stream_ordering bigint NOT NULL,
  sender text NOT NULL,
  -- Set when the user forgot the room (after leaving it).
  forgotten boolean NOT NULL DEFAULT false,
  PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_memberships_user ON room_memberships (user_id, membership);

-- Transaction IDs of sent events, per device, so a retry on any instance returns the same event ID.
CREATE TABLE event_txns (
  room_id text NOT NULL,
  user_id text NOT NULL,
  device_id text NOT NULL,
  txn_id text NOT NULL,
  event_id text NOT NULL,
  created_ts bigint NOT NULL,
  PRIMARY KEY (room_id, user_id, device_id, txn_id)
);
CREATE INDEX event_txns_event ON event_txns (event_id);

CREATE TABLE room_aliases (
  alias text PRIMARY KEY,
  room_id text NOT NULL,
  creator text NOT NULL,
  created_ts bigint NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);

-- Account data joins the stream (for /sync).
ALTER TABLE account_data ADD COLUMN stream_position bigint NOT NULL DEFAULT 0;
CREATE INDEX account_data_stream ON account_data (user_id, stream_position);

-- Filters uploaded by clients (POST /user/{userId}/filter), referenced by ID from /sync.
CREATE TABLE user_filters (
  user_id text NOT NULL,
  filter_id bigserial NOT NULL,
  filter jsonb NOT NULL,
  PRIMARY KEY (user_id, filter_id)
);
