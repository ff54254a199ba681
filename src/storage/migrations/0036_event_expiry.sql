-- Self-destructing messages (MSC2228, Synapse's enable_ephemeral_messages): an event whose content names
-- org.matrix.self_destruct_after (a timestamp in ms) is pruned to its redacted form once that time has come.
-- One row per event still to expire, written with the event; the instance that prunes it deletes the row.
CREATE TABLE event_expiry (
  room_id text NOT NULL,
  event_id text NOT NULL,
  expiry_ts bigint NOT NULL,
  PRIMARY KEY (room_id, event_id)
);
CREATE INDEX event_expiry_due ON event_expiry (expiry_ts);
