-- Simplified sliding sync (MSC4186) connections, shared by every instance: a connection is a device's sync
-- loop under one conn_id; each response makes a position (its `pos`), holding the stream position it
-- covered and the sticky parts of the request (room subscriptions, extension settings, list settings) as
-- they stood after it. What the connection has sent of each room (sliding_sync_rooms) is kept per position,
-- so a request that repeats the last pos (a retry, or a request cancelled and sent again) sees what the
-- client acknowledged, not what a lost response carried. Positions and room rows older than the pos a
-- request uses are pruned by it; a connection unused for a week expires (its pos then answers M_UNKNOWN_POS).
CREATE TABLE sliding_sync_connections (
  id bigserial PRIMARY KEY,
  user_id text NOT NULL,
  device_id text NOT NULL,
  conn_id text NOT NULL,
  created_ts bigint NOT NULL,
  last_used_ts bigint NOT NULL,
  UNIQUE (user_id, device_id, conn_id),
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX sliding_sync_connections_used ON sliding_sync_connections (last_used_ts);

CREATE TABLE sliding_sync_positions (
  id bigserial PRIMARY KEY,
  connection_id bigint NOT NULL REFERENCES sliding_sync_connections (id) ON DELETE CASCADE,
  stream_position bigint NOT NULL,
  sticky jsonb NOT NULL,
  created_ts bigint NOT NULL
);
CREATE INDEX sliding_sync_positions_connection ON sliding_sync_positions (connection_id, id);

-- A room as sent in the response that made position_id: the stream position its data reached, the user's
-- membership then, the room config it was sent with, and the member events sent under lazy loading
-- ({user ID: event ID}, bounded).
CREATE TABLE sliding_sync_rooms (
  connection_id bigint NOT NULL REFERENCES sliding_sync_connections (id) ON DELETE CASCADE,
  room_id text NOT NULL,
  position_id bigint NOT NULL,
  stream_position bigint NOT NULL,
  membership text NOT NULL,
  config jsonb NOT NULL,
  lazy_members jsonb NOT NULL,
  PRIMARY KEY (connection_id, room_id, position_id)
);

-- A room's latest "bump" event (MSC4186 bump_stamp: the activity rooms are ordered by), one index probe per room.
CREATE INDEX events_room_bump ON events (room_id, stream_ordering)
  WHERE type IN ('m.room.create', 'm.room.message', 'm.room.encrypted', 'm.sticker', 'm.call.invite', 'm.poll.start', 'm.beacon_info');
