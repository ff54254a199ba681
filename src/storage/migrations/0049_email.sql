-- E-mail addresses of accounts (client-server API, "Adding Account Administrative Contact Information") and
-- the validation sessions that prove an address belongs to whoever asked (requestToken, then the link in the
-- mail). An address belongs to one account at most. Only a SHA-256 of each mailed token is stored.
CREATE TABLE user_threepids (
  medium text NOT NULL,
  address text NOT NULL,
  user_id text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  validated_ts bigint NOT NULL,
  added_ts bigint NOT NULL,
  PRIMARY KEY (medium, address)
);
CREATE INDEX user_threepids_user ON user_threepids (user_id);

-- purpose: 'add_threepid', 'registration' or 'password_reset' (which requestToken endpoint opened it).
-- One session per (client_secret, medium, address, purpose): a requestToken repeated with a send_attempt
-- no higher than last_send_attempt answers with the same sid and sends nothing.
CREATE TABLE threepid_validation_sessions (
  session_id text PRIMARY KEY,
  client_secret text NOT NULL,
  medium text NOT NULL,
  address text NOT NULL,
  purpose text NOT NULL,
  last_send_attempt bigint NOT NULL,
  next_link text,
  token_hash bytea NOT NULL,
  token_expires_ts bigint NOT NULL,
  validated_ts bigint,
  created_ts bigint NOT NULL,
  UNIQUE (client_secret, medium, address, purpose)
);
CREATE INDEX threepid_validation_sessions_created ON threepid_validation_sessions (created_ts);
