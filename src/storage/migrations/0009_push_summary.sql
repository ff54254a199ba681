-- Notification counts that do not grow with the room (client-server API, "Receiving notifications").
-- Migration 0004 stored one event_push_actions row per local member for every notifying event, so a send in
-- a room of 10,000 members wrote 10,000 rows. Now an event stores what it does for the members who run the
-- server-default rules unchanged ("default members": the same outcome for all of them, apart from the users
-- it names) once, here, and event_push_actions keeps only the exceptions: members whose outcome differs
-- (their own rules, a mention of their user ID). A member's counts are the room's notifying events after
-- their read position, with their exceptions in place of the room's outcome.

-- One row per event that notifies default members, or that has an exception for someone.
-- notify/highlight: the outcome for default members; thread_id: 'main' or the thread root's event ID.
CREATE TABLE event_push_summary (
  room_id text NOT NULL,
  stream_ordering bigint NOT NULL,
  event_id text NOT NULL,
  sender text NOT NULL,
  thread_id text NOT NULL,
  notify boolean NOT NULL,
  highlight boolean NOT NULL,
  PRIMARY KEY (room_id, stream_ordering)
);

COMMENT ON TABLE event_push_actions IS
  'Per-user exceptions to event_push_summary (same room_id, stream_ordering): the outcome for this user when it differs from the outcome for default members.';

-- Where a local member's counts start, besides read receipts: thread_id '' is the member's current join
-- (nothing before it counts, in any thread; the largest bigint while they are not joined, so nothing
-- counts), 'main' or a thread root is the member's latest own event in that thread (they have seen it up to
-- there). No '' row (members joined before this migration): counting starts at 0.
CREATE TABLE push_read_floors (
  room_id text NOT NULL,
  user_id text NOT NULL,
  thread_id text NOT NULL,
  stream_ordering bigint NOT NULL,
  PRIMARY KEY (room_id, user_id, thread_id)
);

-- The joined local members with a push configuration of their own (any row in push_rules or
-- push_rule_defaults): the only members whose rules run one by one for each event. A stale row (a member
-- who left) only costs an evaluation; a missing one would be wrong, so joins and rule changes both write
-- it under the user's push-rules lock.
CREATE TABLE push_custom_members (
  room_id text NOT NULL,
  user_id text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  PRIMARY KEY (room_id, user_id)
);
CREATE INDEX push_custom_members_user ON push_custom_members (user_id);

-- Rows written before this migration are complete per-user outcomes: give each of their events a summary
-- that notifies nobody by default, so they count exactly as before (as exceptions). Members joined now have
-- no join floor: counting starts at 0 for them, which is what their rows already say.
INSERT INTO event_push_summary (room_id, stream_ordering, event_id, sender, thread_id, notify, highlight)
SELECT DISTINCT ON (a.room_id, a.stream_ordering) a.room_id, a.stream_ordering, a.event_id, e.sender, a.thread_id, false, false
  FROM event_push_actions a
  JOIN events e ON e.room_id = a.room_id AND e.event_id = a.event_id
 ORDER BY a.room_id, a.stream_ordering;

INSERT INTO push_custom_members (room_id, user_id)
SELECT m.room_id, m.user_id
  FROM room_memberships m
 WHERE m.membership = 'join'
   AND (EXISTS (SELECT 1 FROM push_rules r WHERE r.user_id = m.user_id)
        OR EXISTS (SELECT 1 FROM push_rule_defaults d WHERE d.user_id = m.user_id));
