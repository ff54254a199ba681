-- Room summaries count invited members as well as joined ones, kept current event by event like
-- joined_members: /sync's m.invited_member_count no longer counts every membership of the room (in a room of
-- 10,000 members that was O(members) for each member's sync after each membership change).
ALTER TABLE room_summaries ADD COLUMN invited_members integer NOT NULL DEFAULT 0;

UPDATE room_summaries s SET invited_members = c.n
  FROM (SELECT room_id, count(*)::int AS n FROM room_memberships WHERE membership = 'invite' GROUP BY room_id) c
 WHERE c.room_id = s.room_id;
