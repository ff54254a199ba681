-- Server-side key backups (client-server API, "Server-side key backups"): a user's backup versions and the
-- encrypted megolm session keys stored in each. Data is keyed by user, never by room: a backup belongs to one
-- user and is only ever read or written whole-user, whole-room or one session at a time.

-- Version numbers count up per user and are never reused, so a deleted version stays as a row (deleted) and
-- a client still holding its number gets M_NOT_FOUND rather than someone else's newer backup; deleting it
-- again succeeds, as the spec asks. etag counts changes to the version's keys and key_count is their number,
-- both kept here so an upload never has to count a backup of tens of thousands of keys.
CREATE TABLE key_backup_versions (
  user_id text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  version bigint NOT NULL,
  algorithm text NOT NULL,
  auth_data jsonb NOT NULL,
  etag bigint NOT NULL DEFAULT 0,
  key_count bigint NOT NULL DEFAULT 0,
  deleted boolean NOT NULL DEFAULT false,
  PRIMARY KEY (user_id, version)
);

-- The primary key serves every read and delete: a whole version, one room of it, one session.
CREATE TABLE key_backup_sessions (
  user_id text NOT NULL,
  version bigint NOT NULL,
  room_id text NOT NULL,
  session_id text NOT NULL,
  first_message_index bigint NOT NULL,
  forwarded_count bigint NOT NULL,
  is_verified boolean NOT NULL,
  session_data jsonb NOT NULL,
  PRIMARY KEY (user_id, version, room_id, session_id),
  FOREIGN KEY (user_id, version) REFERENCES key_backup_versions (user_id, version) ON DELETE CASCADE
);
