-- Rooms an admin blocked (the admin API's room deletion with block: true, as Synapse's): this server's users
-- can no longer join, knock on or be invited to them, whether the invite comes from here or over federation.
-- A row outlives the room's data, so a purged room stays closed.
CREATE TABLE blocked_rooms (
  room_id text PRIMARY KEY,
  blocked_by text NOT NULL,
  blocked_ts bigint NOT NULL
);
