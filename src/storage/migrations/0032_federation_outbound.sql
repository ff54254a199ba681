-- Outbound federation: which servers are in each room, and what each destination has still to receive.

-- How many joined members each server has in each room (rows at zero are removed). A trigger on
-- room_memberships keeps it in the transaction that changes a membership, whichever path writes it (a local
-- send, a remote join arriving over federation), so sending an event reads one room's few rows here and never
-- its member list.
CREATE TABLE room_servers (
  room_id text NOT NULL,
  server_name text NOT NULL,
  joined_count integer NOT NULL,
  PRIMARY KEY (room_id, server_name)
);

-- The server name of a user ID (@localpart:server, the server possibly with a port; a localpart has no ':').
CREATE FUNCTION user_server_name(user_id text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT substr(user_id, strpos(user_id, ':') + 1)
$$;

CREATE FUNCTION count_room_servers() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was_joined boolean := TG_OP <> 'INSERT' AND OLD.membership = 'join';
  is_joined boolean := TG_OP <> 'DELETE' AND NEW.membership = 'join';
  left_count integer;
BEGIN
  IF was_joined AND is_joined AND OLD.user_id = NEW.user_id AND OLD.room_id = NEW.room_id THEN
    RETURN NULL; -- a joined member's new join event (a profile change)
  END IF;
  IF was_joined THEN
    UPDATE room_servers SET joined_count = joined_count - 1
     WHERE room_id = OLD.room_id AND server_name = user_server_name(OLD.user_id)
    RETURNING joined_count INTO left_count;
    IF left_count <= 0 THEN
      DELETE FROM room_servers WHERE room_id = OLD.room_id AND server_name = user_server_name(OLD.user_id);
    END IF;
  END IF;
  IF is_joined THEN
    INSERT INTO room_servers (room_id, server_name, joined_count) VALUES (NEW.room_id, user_server_name(NEW.user_id), 1)
    ON CONFLICT (room_id, server_name) DO UPDATE SET joined_count = room_servers.joined_count + 1;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER room_memberships_servers AFTER INSERT OR UPDATE OF membership, user_id, room_id OR DELETE ON room_memberships
  FOR EACH ROW EXECUTE FUNCTION count_room_servers();

INSERT INTO room_servers (room_id, server_name, joined_count)
SELECT room_id, user_server_name(user_id), count(*) FROM room_memberships WHERE membership = 'join' GROUP BY 1, 2;

-- One row per destination ever sent to: its backoff and the lease of the instance sending to it. Times are
-- milliseconds since the epoch by the database's clock, so instances with skewed clocks agree.
CREATE TABLE federation_destinations (
  destination text PRIMARY KEY,
  -- Consecutive failed transactions; retry_at: not before (exponential backoff, capped).
  failures integer NOT NULL DEFAULT 0,
  retry_at bigint NOT NULL DEFAULT 0,
  -- The instance that may send the next transaction, until lease_until (then any instance may take over).
  lease_holder text,
  lease_until bigint,
  last_success_ts bigint
);

-- Local events still to be sent, one row per destination and event (written with the event, in its
-- transaction, for the servers in the room then); deleted when the destination acknowledges them. A
-- destination that falls too far behind keeps only the newest event of each room (see the sender).
CREATE TABLE federation_pdu_queue (
  destination text NOT NULL,
  stream_ordering bigint NOT NULL,
  room_id text NOT NULL,
  event_id text NOT NULL,
  PRIMARY KEY (destination, stream_ordering)
);
CREATE INDEX federation_pdu_queue_room ON federation_pdu_queue (destination, room_id, stream_ordering);

-- EDUs still to be sent. One with a key (the typing state of a room's user, a room's receipts, a user's
-- presence) replaces the one queued before it under the same key, with a new id (so an acknowledgement of the
-- older one leaves it queued).
CREATE SEQUENCE federation_edu_seq;
CREATE TABLE federation_edu_queue (
  destination text NOT NULL,
  id bigint NOT NULL DEFAULT nextval('federation_edu_seq'),
  edu_type text NOT NULL,
  edu_key text,
  content text NOT NULL,
  created_ts bigint NOT NULL,
  PRIMARY KEY (destination, id)
);
CREATE UNIQUE INDEX federation_edu_queue_key ON federation_edu_queue (destination, edu_type, edu_key) WHERE edu_key IS NOT NULL;
