-- Events that are stored but belong to no timeline (server-server API, "Checks performed on receipt of a
-- PDU", "Soft failure", and the state and auth chain a join receives):
--   outliers     known only as state or as auth events (no state group, no place in the DAG's order);
--   soft-failed  authorized by their own auth events and the state before them, not by the room's current
--                state: kept (they take part in state resolution later) but never delivered;
--   rejected     refused by the auth rules (rejected_reason): never state, never served.
-- None of them has a stream position. `stream_ordering IS NOT NULL` is the one marker every timeline read
-- filters on: the column leads or follows room_id in the timeline indexes (events_room_stream,
-- events_room_depth), so the condition is checked in the index, and a stream range excludes them by itself.
ALTER TABLE events ALTER COLUMN stream_ordering DROP NOT NULL;
ALTER TABLE events ADD COLUMN outlier boolean NOT NULL DEFAULT false;
ALTER TABLE events ADD COLUMN soft_failed boolean NOT NULL DEFAULT false;
-- NOT VALID: every existing row is a timeline event; the check applies to what is written from now on.
ALTER TABLE events ADD CONSTRAINT events_timeline_marker
  CHECK (stream_ordering IS NULL OR (NOT outlier AND NOT soft_failed AND rejected_reason IS NULL)) NOT VALID;
