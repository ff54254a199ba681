-- Relations (client-server API, "Forming relationships between events", "Threading"). Child events are
-- found through events.relates_to / rel_type (indexed in 0002); this adds what threads need.

-- One row per thread root, with the thread's latest reply: GET /threads lists roots newest activity first.
-- Maintained by the room writer's append hook (src/rooms/relations-write.ts) in the writing transaction.
CREATE TABLE threads (
  room_id text NOT NULL,
  root_event_id text NOT NULL,
  latest_event_id text NOT NULL,
  -- Stream position of the latest reply: the order and the pagination key of GET /threads.
  latest_stream bigint NOT NULL,
  PRIMARY KEY (room_id, root_event_id)
);
CREATE INDEX threads_room_latest ON threads (room_id, latest_stream);

-- "Has this user replied in this thread?" (current_user_participated, include=participated) without
-- reading the thread's events.
CREATE INDEX events_thread_senders ON events (room_id, relates_to, sender) WHERE rel_type = 'm.thread';

-- Threads of events stored before this migration.
INSERT INTO threads (room_id, root_event_id, latest_event_id, latest_stream)
SELECT DISTINCT ON (e.room_id, e.relates_to) e.room_id, e.relates_to, e.event_id, e.stream_ordering
  FROM events e
 WHERE e.rel_type = 'm.thread' AND e.relates_to IS NOT NULL AND e.rejected_reason IS NULL
   AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.room_id = e.room_id AND r.event_id = e.event_id)
   AND EXISTS (SELECT 1 FROM events root WHERE root.room_id = e.room_id AND root.event_id = e.relates_to)
 ORDER BY e.room_id, e.relates_to, e.stream_ordering DESC;
