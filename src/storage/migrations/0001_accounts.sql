-- Accounts, devices, tokens, profiles, account data, user-interactive auth, registration tokens,
-- the server's signing keys and rate-limit buckets.

CREATE TABLE users (
  user_id text PRIMARY KEY,
  localpart text NOT NULL UNIQUE,
  password_hash text,
  admin boolean NOT NULL DEFAULT false,
  deactivated boolean NOT NULL DEFAULT false,
  user_type text,
  created_ts bigint NOT NULL
);

-- Profile fields (displayname, avatar_url, m.tz, custom keys) as one JSON object per user.
CREATE TABLE profiles (
  user_id text PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
  fields jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE devices (
  user_id text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  device_id text NOT NULL,
  display_name text,
  created_ts bigint NOT NULL,
  last_seen_ts bigint,
  last_seen_ip text,
  last_seen_user_agent text,
  PRIMARY KEY (user_id, device_id)
);

CREATE TABLE refresh_tokens (
  id bigserial PRIMARY KEY,
  token_hash bytea NOT NULL UNIQUE,
  user_id text NOT NULL,
  device_id text NOT NULL,
  -- Set when this token was exchanged; the exchange's product revokes this row once it is used.
  next_token_id bigint REFERENCES refresh_tokens (id) ON DELETE SET NULL,
  expires_ts bigint,
  created_ts bigint NOT NULL,
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_device ON refresh_tokens (user_id, device_id);
CREATE INDEX refresh_tokens_next ON refresh_tokens (next_token_id) WHERE next_token_id IS NOT NULL;

-- Only a SHA-256 of each token is stored.
CREATE TABLE access_tokens (
  token_hash bytea PRIMARY KEY,
  user_id text NOT NULL,
  device_id text NOT NULL,
  refresh_token_id bigint REFERENCES refresh_tokens (id) ON DELETE CASCADE,
  expires_ts bigint,
  used boolean NOT NULL DEFAULT false,
  created_ts bigint NOT NULL,
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);
CREATE INDEX access_tokens_refresh ON access_tokens (refresh_token_id) WHERE refresh_token_id IS NOT NULL;

-- Global account data has room_id ''.
CREATE TABLE account_data (
  user_id text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  room_id text NOT NULL DEFAULT '',
  type text NOT NULL,
  content jsonb NOT NULL,
  updated_ts bigint NOT NULL,
  PRIMARY KEY (user_id, room_id, type)
);

CREATE TABLE uia_sessions (
  session_id text PRIMARY KEY,
  -- What the session authorises (register, password, deactivate, delete_devices, …) and for whom.
  purpose text NOT NULL,
  user_id text,
  completed text[] NOT NULL DEFAULT '{}',
  -- Per-stage data kept between requests (e.g. the registration token used).
  data jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_ts bigint NOT NULL
);
CREATE INDEX uia_sessions_created ON uia_sessions (created_ts);

CREATE TABLE registration_tokens (
  token text PRIMARY KEY,
  uses_allowed integer,
  pending integer NOT NULL DEFAULT 0,
  completed integer NOT NULL DEFAULT 0,
  expiry_time bigint
);

CREATE TABLE shared_secret_nonces (
  nonce text PRIMARY KEY,
  created_ts bigint NOT NULL
);

CREATE TABLE server_signing_keys (
  key_id text PRIMARY KEY,
  seed bytea NOT NULL,
  created_ts bigint NOT NULL,
  -- Set when the key is retired; it is then published under old_verify_keys.
  expired_ts bigint
);

-- Token buckets shared by every instance: tokens left as of updated_ms.
CREATE TABLE rate_limits (
  key text PRIMARY KEY,
  tokens double precision NOT NULL,
  updated_ms bigint NOT NULL,
  -- Whether the last request against this bucket was refused.
  refused boolean NOT NULL DEFAULT false
);
