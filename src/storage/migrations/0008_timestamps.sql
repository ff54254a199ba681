-- GET /timestamp_to_event: a room's events by their origin_server_ts.
CREATE INDEX events_room_ts ON events (room_id, origin_server_ts, stream_ordering);
