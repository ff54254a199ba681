-- A device list change only one user is told about: their own user-signing key, or their signatures over other
-- users' keys (what they verified is their business). NULL: everyone sharing a room with user_id.
ALTER TABLE device_list_changes ADD COLUMN seen_by text;
