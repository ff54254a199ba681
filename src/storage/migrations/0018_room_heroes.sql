-- A room's heroes (the m.heroes of /sync's room summary) without reading every membership of the room: the
-- first members in stream order, joined or invited ones first. Each kind has its own small index, read in
-- order and stopped after the few needed; the window over all memberships it replaces was O(members) for
-- every summary sent, and a room's summary goes to every member after each membership change.
CREATE INDEX room_memberships_heroes_current ON room_memberships (room_id, stream_ordering) WHERE membership IN ('join', 'invite');
CREATE INDEX room_memberships_heroes_former ON room_memberships (room_id, stream_ordering) WHERE membership NOT IN ('join', 'invite');
