-- The content repository: one row per mxc:// URI, the thumbnails made from it and cached URL previews.
-- The bytes live in a BlobStore (a directory or an S3 bucket) under their SHA-256, so identical uploads
-- share one blob; a blob is removed only when no media or thumbnail row names it any more.

-- An asynchronous upload (POST /media/v1/create) is a row with sha256 NULL until its content arrives, and
-- expires_ts bounds how long it may wait. remote rows are the cache of other servers' media.
CREATE TABLE media (
  server_name text NOT NULL,
  media_id text NOT NULL,
  user_id text,
  content_type text,
  upload_name text,
  size bigint,
  sha256 text,
  created_ts bigint NOT NULL,
  expires_ts bigint,
  last_access_ts bigint,
  remote boolean NOT NULL DEFAULT false,
  quarantined_by text,
  safe_from_quarantine boolean NOT NULL DEFAULT false,
  PRIMARY KEY (server_name, media_id)
);
-- A user's media list (admin API) and their count of pending uploads.
CREATE INDEX media_user ON media (user_id, created_ts) WHERE user_id IS NOT NULL;
CREATE INDEX media_pending ON media (user_id, expires_ts) WHERE sha256 IS NULL;
-- Whether a blob is still referenced.
CREATE INDEX media_sha256 ON media (sha256) WHERE sha256 IS NOT NULL;
-- Retention sweeps: local and remote media by last access.
CREATE INDEX media_last_access ON media (remote, last_access_ts) WHERE sha256 IS NOT NULL;

-- Thumbnails are made once per (size, method, animation) and kept; they go with their media row.
CREATE TABLE media_thumbnails (
  server_name text NOT NULL,
  media_id text NOT NULL,
  width integer NOT NULL,
  height integer NOT NULL,
  method text NOT NULL,
  animated boolean NOT NULL,
  content_type text NOT NULL,
  size bigint NOT NULL,
  sha256 text NOT NULL,
  PRIMARY KEY (server_name, media_id, width, height, method, animated),
  FOREIGN KEY (server_name, media_id) REFERENCES media (server_name, media_id) ON DELETE CASCADE
);
CREATE INDEX media_thumbnails_sha256 ON media_thumbnails (sha256);

-- URL previews, shared by every user, reused until expires_ts.
CREATE TABLE media_url_previews (
  url text PRIMARY KEY,
  og jsonb NOT NULL,
  expires_ts bigint NOT NULL
);
CREATE INDEX media_url_previews_expiry ON media_url_previews (expires_ts);
