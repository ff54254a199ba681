-- A message send in one round trip: an instance keeps what the last send to a room read (its forward
-- extremities, the auth state, the push context) and sends the next event without reading it again. The
-- first statement after the room's lock checks that nothing it kept has changed; if anything has, the
-- transaction fails with SQLSTATE HS409 and the send starts over with fresh reads (RoomWriter, Rooms.send).
--
-- Everything in a room's own history changes its forward extremities. The push context (who has rules of
-- their own, and those rules) also changes with push rule changes, which take no room lock: every change to
-- a rule bumps this version, in the changing transaction (so a reader sees the version and the rules of
-- one snapshot).
CREATE TABLE push_rules_version (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  version bigint NOT NULL
);
INSERT INTO push_rules_version (id, version) VALUES (true, 0);

CREATE FUNCTION bump_push_rules_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE push_rules_version SET version = version + 1;
  RETURN NULL;
END
$$;

-- Row-level: a statement that changes no rule (many writes are conditional) bumps nothing.
CREATE TRIGGER push_rules_changed AFTER INSERT OR UPDATE OR DELETE ON push_rules
  FOR EACH ROW EXECUTE FUNCTION bump_push_rules_version();
CREATE TRIGGER push_rule_defaults_changed AFTER INSERT OR UPDATE OR DELETE ON push_rule_defaults
  FOR EACH ROW EXECUTE FUNCTION bump_push_rules_version();

-- Raises HS409 unless the room's forward extremities are exactly `extremities` and the push rules version
-- is `push_version`. Called under the room's write lock, so neither can change before the transaction ends.
CREATE FUNCTION expect_room_write_state(room text, extremities text[], push_version bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT version FROM push_rules_version) IS DISTINCT FROM push_version
     OR (SELECT count(*) FROM room_extremities WHERE room_id = room) <> cardinality(extremities)
     OR (SELECT count(*) FROM room_extremities WHERE room_id = room AND event_id = ANY(extremities)) <> cardinality(extremities) THEN
    RAISE EXCEPTION 'room % changed since its write state was read', room USING ERRCODE = 'HS409';
  END IF;
END
$$;
