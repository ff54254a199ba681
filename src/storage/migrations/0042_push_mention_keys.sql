-- The legacy mention rules (.m.rule.contains_user_name, .m.rule.contains_display_name) notify a member whose
-- localpart or room display name the body of an event without m.mentions holds at word boundaries. To find
-- those members without reading every member of the room, each joined local member is listed under the keys
-- of their localpart and display name (src/push/fanout.ts, mentionKey): a body that names someone holds their
-- key as one of its words, so the members an event may name are looked up by the body's words.
-- Kept by the push hook with each local member event (PushRepository.recordEvent): a join lists the member
-- under their keys, anything else removes them. Reads join room_memberships, so a stale row names nobody.
CREATE TABLE push_mention_keys (
  room_id text NOT NULL,
  key text NOT NULL,
  user_id text NOT NULL,
  PRIMARY KEY (room_id, key, user_id)
);
CREATE INDEX push_mention_keys_user ON push_mention_keys (room_id, user_id);

-- The members joined before this migration, keyed as mentionKey keys them (the first run of [a-z0-9_] of the
-- lower-cased name, else its first character that is not white space).
INSERT INTO push_mention_keys (room_id, key, user_id)
SELECT DISTINCT m.room_id, k.key, m.user_id
  FROM room_memberships m
  JOIN users u ON u.user_id = m.user_id
  LEFT JOIN current_state c ON c.room_id = m.room_id AND c.type = 'm.room.member' AND c.state_key = m.user_id
  LEFT JOIN events e ON e.room_id = c.room_id AND e.event_id = c.event_id AND position('\u0000' IN e.json) = 0
  CROSS JOIN LATERAL (VALUES (u.localpart), ((e.json::jsonb)->'content'->>'displayname')) AS n(name)
  CROSS JOIN LATERAL (SELECT COALESCE(substring(lower(n.name) FROM '[a-z0-9_]+'), substring(lower(n.name) FROM '[^[:space:]]')) AS key) k
 WHERE m.membership = 'join' AND k.key IS NOT NULL;
