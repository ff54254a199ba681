-- Other servers' users in the user directory: the display name and avatar of the latest join of theirs this
-- server took in (src/search/indexer.ts, and a join's state in src/rooms/ingest.ts), searched through the same
-- vector as local users' profiles. Whether a searcher may find them is decided at search time from the room
-- memberships, in rooms this server is still in (room_servers): a row here alone shows nobody.
CREATE TABLE user_directory_remote (
  user_id text PRIMARY KEY,
  display_name text,
  avatar_url text,
  directory_vector tsvector GENERATED ALWAYS AS (user_directory_vector(user_id, display_name)) STORED
);
CREATE INDEX user_directory_remote_vector ON user_directory_remote USING gin (directory_vector);

-- The remote members joined in rooms of the current state (users of this server have a users row).
INSERT INTO user_directory_remote (user_id, display_name, avatar_url)
SELECT DISTINCT ON (c.state_key) c.state_key,
       CASE WHEN jsonb_typeof(e.json::jsonb -> 'content' -> 'displayname') = 'string' THEN left(e.json::jsonb -> 'content' ->> 'displayname', 256) END,
       CASE WHEN jsonb_typeof(e.json::jsonb -> 'content' -> 'avatar_url') = 'string' THEN left(e.json::jsonb -> 'content' ->> 'avatar_url', 1024) END
  FROM current_state c JOIN events e ON e.room_id = c.room_id AND e.event_id = c.event_id
 WHERE c.type = 'm.room.member' AND c.membership = 'join' AND e.json NOT LIKE '%\\u0000%'
   AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = c.state_key)
 ORDER BY c.state_key, e.stream_ordering DESC NULLS LAST
ON CONFLICT DO NOTHING;
