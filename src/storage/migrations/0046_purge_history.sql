-- Purges of a room's history an admin started (the admin API's purge history, as Synapse's): started on one
-- instance, asked about on any. A running purge holds its row locked in the transaction that deletes, so a
-- row still 'active' that nobody holds belongs to a purge whose instance went away (PurgeHistoryRepository).
CREATE TABLE purge_history_jobs (
  purge_id text PRIMARY KEY,
  room_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('active', 'complete', 'failed')),
  error text,
  created_ts bigint NOT NULL
);

-- State events a purge took out of the timeline: they stay timeline events for everything that reads the
-- room's state history in stream order (who was a member when, the history visibility then), but no
-- timeline shows them any more (/sync, /messages: TimelineRepository).
ALTER TABLE events ADD COLUMN purged boolean NOT NULL DEFAULT false;
