-- The room directory and room administration: room summaries (published room directory, space
-- hierarchy), content reports and space hierarchy pagination sessions.

-- What the directory and the hierarchy show of a room, kept up to date from its current state by a
-- RoomWriter append hook (src/directory/summaries.ts), so listing rooms never parses event JSON.
CREATE TABLE room_summaries (
  room_id text PRIMARY KEY,
  room_type text,
  name text,
  topic text,
  canonical_alias text,
  avatar_url text,
  join_rule text,
  history_visibility text,
  guest_access text,
  encryption text,
  -- Rooms named by a restricted join rule's allow conditions.
  allowed_room_ids text[],
  joined_members integer NOT NULL DEFAULT 0
);
-- The directory's order: the largest rooms first, then by room ID (keyset pagination).
CREATE INDEX room_summaries_size ON room_summaries (joined_members DESC, room_id);
-- Published rooms are few among all rooms: listing starts from them.
CREATE INDEX rooms_published ON rooms (room_id) WHERE is_public;

-- Summaries of rooms that existed before this migration (the hook keeps them current from now on).
INSERT INTO room_summaries (room_id, room_type, name, topic, canonical_alias, avatar_url, join_rule, history_visibility,
                            guest_access, encryption, joined_members)
SELECT r.room_id,
       max(CASE WHEN s.type = 'm.room.create' AND jsonb_typeof(s.content -> 'type') = 'string' THEN s.content ->> 'type' END),
       max(CASE WHEN s.type = 'm.room.name' AND jsonb_typeof(s.content -> 'name') = 'string' THEN NULLIF(s.content ->> 'name', '') END),
       max(CASE WHEN s.type = 'm.room.topic' AND jsonb_typeof(s.content -> 'topic') = 'string' THEN NULLIF(s.content ->> 'topic', '') END),
       max(CASE WHEN s.type = 'm.room.canonical_alias' AND jsonb_typeof(s.content -> 'alias') = 'string' THEN s.content ->> 'alias' END),
       max(CASE WHEN s.type = 'm.room.avatar' AND jsonb_typeof(s.content -> 'url') = 'string' THEN NULLIF(s.content ->> 'url', '') END),
       max(CASE WHEN s.type = 'm.room.join_rules' AND jsonb_typeof(s.content -> 'join_rule') = 'string' THEN s.content ->> 'join_rule' END),
       max(CASE WHEN s.type = 'm.room.history_visibility' AND jsonb_typeof(s.content -> 'history_visibility') = 'string' THEN s.content ->> 'history_visibility' END),
       max(CASE WHEN s.type = 'm.room.guest_access' AND jsonb_typeof(s.content -> 'guest_access') = 'string' THEN s.content ->> 'guest_access' END),
       max(CASE WHEN s.type = 'm.room.encryption' AND jsonb_typeof(s.content -> 'algorithm') = 'string' THEN s.content ->> 'algorithm' END),
       (SELECT count(*) FROM current_state m WHERE m.room_id = r.room_id AND m.type = 'm.room.member' AND m.membership = 'join')
  FROM rooms r
  LEFT JOIN LATERAL (
    SELECT c.type, (e.json::jsonb) -> 'content' AS content FROM current_state c
      JOIN events e ON e.room_id = c.room_id AND e.event_id = c.event_id
     WHERE c.room_id = r.room_id AND c.state_key = ''
       AND c.type IN ('m.room.create', 'm.room.name', 'm.room.topic', 'm.room.canonical_alias', 'm.room.avatar',
                      'm.room.join_rules', 'm.room.history_visibility', 'm.room.guest_access', 'm.room.encryption')
  ) s ON true
 GROUP BY r.room_id;

-- Reports of events, rooms and users (client-server API, "Reporting content"), for server admins.
CREATE TABLE content_reports (
  id bigserial PRIMARY KEY,
  reporter text NOT NULL,
  -- 'event', 'room' or 'user'.
  kind text NOT NULL,
  room_id text,
  event_id text,
  target_user_id text,
  reason text,
  score integer,
  created_ts bigint NOT NULL
);
CREATE INDEX content_reports_room ON content_reports (room_id, created_ts) WHERE room_id IS NOT NULL;
CREATE INDEX content_reports_created ON content_reports (created_ts);

-- Where a paginated GET /hierarchy walk stopped: the rooms still to visit and those already seen.
-- Stored (not packed into the token) so a token stays short however large the tree; expired ones are
-- deleted as new ones are made.
CREATE TABLE hierarchy_sessions (
  token text PRIMARY KEY,
  user_id text NOT NULL,
  room_id text NOT NULL,
  suggested_only boolean NOT NULL,
  max_depth integer NOT NULL,
  queue jsonb NOT NULL,
  processed jsonb NOT NULL,
  created_ts bigint NOT NULL
);
CREATE INDEX hierarchy_sessions_created ON hierarchy_sessions (created_ts);
