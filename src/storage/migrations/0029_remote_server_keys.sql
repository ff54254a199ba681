-- Other servers' signing keys, fetched from them directly or through a notary, shared by every instance.
-- A row per (server, key): valid_until_ts is how long it may verify (valid_until_ts of the answer, capped
-- at 7 days, or expired_ts for a key the server lists in old_verify_keys); rows are kept past that so old
-- events can still be checked. key_json is the signed answer the key came in, served again when
-- Homestead answers as a notary (co-signed then).
CREATE TABLE remote_server_keys (
  server_name text NOT NULL,
  key_id text NOT NULL,
  verify_key text NOT NULL,
  valid_until_ts bigint NOT NULL,
  expired_ts bigint,
  from_server text NOT NULL,
  fetched_ts bigint NOT NULL,
  key_json text NOT NULL,
  PRIMARY KEY (server_name, key_id)
);
