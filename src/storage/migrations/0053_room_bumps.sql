-- Each room's bump stamp (MSC4186): the stream position of its latest message-like event (the types
-- BUMP_TYPES in repositories/sliding-sync.ts lists), kept by a RoomWriter append hook in the event's own
-- transaction, so a sliding sync request orders a user's rooms with one read of their memberships joined to
-- this table instead of an index probe per room.
CREATE TABLE room_bumps (
  room_id text PRIMARY KEY,
  stream_ordering bigint NOT NULL
);
INSERT INTO room_bumps (room_id, stream_ordering)
SELECT room_id, max(stream_ordering) FROM events
 WHERE type IN ('m.room.create', 'm.room.message', 'm.room.encrypted', 'm.sticker', 'm.call.invite', 'm.poll.start', 'm.beacon_info')
   AND stream_ordering IS NOT NULL AND rejected_reason IS NULL
 GROUP BY room_id;
-- Its reads (one probe per room) are gone with it.
DROP INDEX events_room_bump;
