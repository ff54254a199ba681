-- Forward extremities back in a table of their own (0017 had moved them into the rooms row). Measured
-- since: rewriting the rooms row on every send cost ~20 % more PostgreSQL CPU per event than a delete and an
-- insert here (20 concurrent senders, alternating runs: 460–500 against 516–542 events/s). The state group
-- stays in the rooms row, written only by events that change it. The dead rows this table leaves behind
-- in a busy room are skipped by plain index scans once seen, and vacuum removes them.
CREATE TABLE room_extremities (
  room_id text NOT NULL,
  event_id text NOT NULL,
  PRIMARY KEY (room_id, event_id)
);
INSERT INTO room_extremities (room_id, event_id) SELECT r.room_id, x FROM rooms r, unnest(r.extremities) AS x ON CONFLICT DO NOTHING;
ALTER TABLE rooms DROP COLUMN extremities;
ALTER TABLE rooms RESET (fillfactor);
