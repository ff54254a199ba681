-- A room's forward extremities move into its rooms row. Every event replaced them in room_extremities with a
-- DELETE and an INSERT, leaving a dead row and two index entries behind per event until vacuum: in a busy
-- room thousands of them, which every send read past (a room of 10,000 members joined in a burst made each
-- send's read of its extremities ~20 ms). An array in the rooms row is rewritten instead, with the state
-- group, by an update that touches no indexed column: PostgreSQL keeps such updates on the same page
-- (heap-only tuples), adds no index entries, and prunes the old versions as it goes. The free space on
-- each page that this needs is what the fillfactor leaves.
ALTER TABLE rooms ADD COLUMN extremities text[] NOT NULL DEFAULT '{}';
ALTER TABLE rooms SET (fillfactor = 50);
UPDATE rooms r SET extremities = COALESCE((SELECT array_agg(x.event_id ORDER BY x.event_id) FROM room_extremities x WHERE x.room_id = r.room_id), '{}');
DROP TABLE room_extremities;
