-- A message send built on what the instance kept of its room (migration 0023) checks that state in its
-- BEGIN message: joining the fence (migration 0025) and then, under the room's write lock, the check of
-- expect_room_write_state, in one statement. PostgreSQL checks it while the instance builds the event,
-- and the send's later message carries one statement (and one answer) less. A volatile function's
-- statements each read a fresh snapshot, so the check sees every writer that held the lock before.
CREATE FUNCTION enter_stream_fence(room text, extremities text[], push_version bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  p bigint;
BEGIN
  p := enter_stream_fence(room);
  PERFORM expect_room_write_state(room, extremities, push_version);
  RETURN p;
END
$$;
