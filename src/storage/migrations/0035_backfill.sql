-- History fetched from other servers when a client paginates past the oldest event stored here
-- (server-server API, "Backfilling and retrieving missing events").
--
-- Backfilled events join the timeline at negative stream positions, taken from their own descending
-- sequence: /sync reads stream ranges above a token (every token is ≥ 0), so old history never arrives as
-- news; /messages orders by (depth, stream_ordering) and reaches them, older history ever further below.
CREATE SEQUENCE backfill_seq INCREMENT BY -1 MINVALUE -9223372036854775807 MAXVALUE -1 START WITH -1;

-- A room's backward extremities: events its timeline events name as prev_events that are not in the
-- timeline here (never fetched, or known only as outliers). Backfill asks other servers for the history
-- behind them; a fruitless attempt waits until next_try_ts (backing off) before the next.
CREATE TABLE room_backward_extremities (
  room_id text NOT NULL,
  event_id text NOT NULL,
  failures integer NOT NULL DEFAULT 0,
  next_try_ts bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (room_id, event_id)
);

-- The DAG walked forwards: the timeline events after a backward extremity (where backfilled events are
-- ordered, just before them).
CREATE INDEX event_edges_prev ON event_edges (room_id, prev_event_id);

INSERT INTO room_backward_extremities (room_id, event_id)
SELECT DISTINCT ee.room_id, ee.prev_event_id
  FROM event_edges ee
  JOIN events e ON e.room_id = ee.room_id AND e.event_id = ee.event_id AND e.stream_ordering IS NOT NULL
 WHERE NOT EXISTS (SELECT 1 FROM events p WHERE p.room_id = ee.room_id AND p.event_id = ee.prev_event_id AND p.stream_ordering IS NOT NULL)
ON CONFLICT DO NOTHING;
