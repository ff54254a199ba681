-- An event's push deliveries before they are spread over its members' pushers. The event's own transaction
-- writes one row (who the push rules said it notifies), only when a member it may reach has a pusher; once
-- it has committed, an instance expands the row into push_queue (a row per pusher) in a transaction of its
-- own and deletes it, so a message to a room of thousands of members with pushers costs its send one
-- small insert. A row whose instance died before expanding it is expanded by another instance's poll.
-- stream_ordering is the event's position: the members reached are those joined at it.
CREATE TABLE push_fanout (
  id bigserial PRIMARY KEY,
  room_id text NOT NULL,
  event_id text NOT NULL,
  stream_ordering bigint NOT NULL,
  sender text NOT NULL,
  -- Whether members who keep the server-default rules (and are not named) are notified, with what tweaks.
  room_notifies boolean NOT NULL,
  room_tweaks jsonb NOT NULL,
  -- The members whose outcome was computed on their own (named, rules of their own, an invitee).
  individual_ids text[] NOT NULL,
  individual_notify boolean[] NOT NULL,
  individual_tweaks jsonb[] NOT NULL,
  -- The user an invite names: reached though not joined.
  invitee text,
  created_ts bigint NOT NULL
);
