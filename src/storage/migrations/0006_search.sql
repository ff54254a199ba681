-- Server-side search, the user directory and presence (client-server API, "Server Side Search",
-- "User directory", "Presence").
--
-- Text search uses the 'simple' configuration everywhere: it lower-cases and splits words but neither
-- stems nor drops stop words, so it treats every language alike (rooms mix languages and events carry no
-- language tag; an English stemmer would mangle other languages and drop words such as "the" or "who").
-- Every query word is matched as a prefix ('hel' finds "hello"), which recovers most of what stemming
-- would have found.

-- The lexemes of a search term, as the 'simple' configuration produces them for a document, minus the
-- compound tokens whose parts the parser also yields ("foo-bar" → foo, bar; "example.com/x" →
-- example.com, /x), so a term finds a document that writes the parts apart.
CREATE FUNCTION search_lexemes(term text) RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT l), '{}')
    FROM ts_debug('simple'::regconfig, term) d, unnest(d.lexemes) l
   WHERE d.alias NOT IN ('asciihword', 'hword', 'numhword', 'url') AND l <> ''
$$;

-- All lexemes required, each as a prefix. Built from quoted lexemes, so no term can inject query syntax.
CREATE FUNCTION prefix_tsquery(lexemes text[]) RETURNS tsquery LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(string_agg('''' || replace(replace(l, '\', '\\'), '''', '''''') || ''':*', ' & '), '')::tsquery
    FROM unnest(lexemes) l
$$;

-- The searchable text of m.room.message (content.body), m.room.name (content.name) and m.room.topic
-- (content.topic and the text/plain m.topic), one row per event. Written by the room writer's append hook
-- (src/search/indexer.ts) in the event's own transaction; a redaction deletes its target's row. The text
-- itself is not kept: events.json has it.
CREATE TABLE event_search (
  room_id text NOT NULL,
  event_id text NOT NULL,
  stream_ordering bigint NOT NULL,
  vector tsvector NOT NULL,
  PRIMARY KEY (room_id, event_id)
);
CREATE INDEX event_search_vector ON event_search USING gin (vector);
-- Order by recency within a room set (order_by=recent) and next_batch bounds.
CREATE INDEX event_search_room_stream ON event_search (room_id, stream_ordering);

-- Events stored before this migration. Events whose JSON holds a \u0000 escape (which jsonb rejects) are
-- left out rather than failing the migration.
INSERT INTO event_search (room_id, event_id, stream_ordering, vector)
SELECT room_id, event_id, stream_ordering, to_tsvector('simple'::regconfig, text)
  FROM (
    SELECT e.room_id, e.event_id, e.stream_ordering,
           CASE e.type
             WHEN 'm.room.message' THEN j -> 'content' ->> 'body'
             WHEN 'm.room.name' THEN j -> 'content' ->> 'name'
             ELSE concat_ws(' ', j -> 'content' ->> 'topic',
               (SELECT string_agg(x ->> 'body', ' ')
                  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j -> 'content' -> 'm.topic' -> 'm.text') = 'array'
                                                 THEN j -> 'content' -> 'm.topic' -> 'm.text' ELSE '[]'::jsonb END) x
                 WHERE jsonb_typeof(x) = 'object' AND coalesce(x ->> 'mimetype', 'text/plain') = 'text/plain'))
           END AS text
      FROM (SELECT e.*, e.json::jsonb AS j FROM events e
             WHERE e.type IN ('m.room.message', 'm.room.name', 'm.room.topic') AND e.rejected_reason IS NULL
               AND e.json NOT LIKE '%\\u0000%'
               AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.room_id = e.room_id AND r.event_id = e.event_id)) e
     WHERE (e.type = 'm.room.message') = (e.state_key IS NULL)
  ) t
 WHERE text IS NOT NULL AND text <> ''
ON CONFLICT DO NOTHING;

-- User directory. Local users are found through a generated column of `profiles`, so a display name
-- change needs no second write and ranking reads the stored vector: user ID and display name, with the
-- punctuation of user IDs turned into spaces on both the document and the search term
-- ("@alice.smith:example.org" → alice, smith, example, org), so any part of an ID finds it.
-- (Only catalog functions inside: index maintenance runs with a search_path of pg_catalog alone.)
-- The search term is folded the same way in src/search/user-directory.ts.
CREATE FUNCTION user_directory_vector(user_id text, display_name text) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT to_tsvector('simple'::regconfig, translate(user_id || ' ' || coalesce(display_name, ''), '@:._=-/+[]', '          '))
$$;
ALTER TABLE profiles ADD COLUMN directory_vector tsvector
  GENERATED ALWAYS AS (user_directory_vector(user_id, fields ->> 'displayname')) STORED;
CREATE INDEX profiles_directory_vector ON profiles USING gin (directory_vector);

-- Rooms whose joined members anyone may find in the directory: join rule `public` or history visibility
-- `world_readable`. Kept by the append hook from m.room.join_rules and m.room.history_visibility, so the
-- search never parses event JSON.
CREATE TABLE user_directory_rooms (
  room_id text PRIMARY KEY,
  join_rule text,
  history_visibility text,
  is_public boolean GENERATED ALWAYS AS (coalesce(join_rule = 'public', false) OR coalesce(history_visibility = 'world_readable', false)) STORED
);

INSERT INTO user_directory_rooms (room_id, join_rule, history_visibility)
SELECT c.room_id,
       max(CASE WHEN c.type = 'm.room.join_rules' THEN e.json::jsonb -> 'content' ->> 'join_rule' END),
       max(CASE WHEN c.type = 'm.room.history_visibility' THEN e.json::jsonb -> 'content' ->> 'history_visibility' END)
  FROM current_state c JOIN events e ON e.room_id = c.room_id AND e.event_id = c.event_id
 WHERE c.type IN ('m.room.join_rules', 'm.room.history_visibility') AND c.state_key = '' AND e.json NOT LIKE '%\\u0000%'
 GROUP BY c.room_id
ON CONFLICT DO NOTHING;

-- Presence: one row per user who ever had one. Every visible change takes a stream position, so /sync
-- sends the changes of a stream range; last_seen_ts (a sync or a PUT) only moves in place, and the
-- sweeper turns users not seen for a while offline.
CREATE TABLE presence (
  user_id text PRIMARY KEY,
  state text NOT NULL,
  status_msg text,
  last_active_ts bigint NOT NULL,
  last_seen_ts bigint NOT NULL,
  -- The last time a client asked for online: a syncing device that asks for unavailable does not override
  -- another that asked for online recently (src/presence/presence.ts).
  last_online_ts bigint NOT NULL,
  stream_position bigint NOT NULL
);
-- /sync: the presence changes of a stream range.
CREATE INDEX presence_stream ON presence (stream_position);
-- The sweeper: users not offline, oldest seen first.
CREATE INDEX presence_seen ON presence (last_seen_ts) WHERE state <> 'offline';
