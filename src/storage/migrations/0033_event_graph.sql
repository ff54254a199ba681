-- The room DAG's edges, for the walks federation reads make (backfill and get_missing_events walk
-- prev_events back; /state, /state_ids and /event_auth walk auth_events): recursive CTEs over these
-- tables, one statement per walk instead of a read per event. Written with each event by
-- EventsRepository.append, in its one statement. Keyed by room first, like the events.
CREATE TABLE event_edges (
  room_id text NOT NULL,
  event_id text NOT NULL,
  prev_event_id text NOT NULL,
  PRIMARY KEY (room_id, event_id, prev_event_id)
);

-- auth_events, plus in room version 12 the create event every other event implies (its ID is the room
-- ID with '$'; rooms/v12), as the auth rules and state resolution read them.
CREATE TABLE event_auth_edges (
  room_id text NOT NULL,
  event_id text NOT NULL,
  auth_event_id text NOT NULL,
  PRIMARY KEY (room_id, event_id, auth_event_id)
);

-- The events stored so far. Room versions 1 and 2 list references as [event_id, hashes] pairs, the later
-- ones as plain IDs.
CREATE FUNCTION pg_temp.event_refs(refs jsonb) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_typeof(r) = 'array' THEN r ->> 0 ELSE r #>> '{}' END
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(refs) = 'array' THEN refs ELSE '[]'::jsonb END) AS r
$$;

INSERT INTO event_edges (room_id, event_id, prev_event_id)
SELECT e.room_id, e.event_id, ref FROM events e, pg_temp.event_refs(e.json::jsonb -> 'prev_events') AS ref
 WHERE ref IS NOT NULL
ON CONFLICT DO NOTHING;

INSERT INTO event_auth_edges (room_id, event_id, auth_event_id)
SELECT e.room_id, e.event_id, ref FROM events e, pg_temp.event_refs(e.json::jsonb -> 'auth_events') AS ref
 WHERE ref IS NOT NULL
ON CONFLICT DO NOTHING;

INSERT INTO event_auth_edges (room_id, event_id, auth_event_id)
SELECT e.room_id, e.event_id, '$' || substr(e.room_id, 2)
  FROM events e JOIN rooms r ON r.room_id = e.room_id
 WHERE r.room_version = '12' AND NOT (e.type = 'm.room.create' AND e.state_key = '')
ON CONFLICT DO NOTHING;
DROP FUNCTION pg_temp.event_refs(jsonb);
