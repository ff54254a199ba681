-- Single sign-on (client-server API, "Client login via SSO").
-- user_external_ids: which local user an identity provider's user is ("cas", the CAS user name), so the
-- next sign-on finds the same account and UIA can offer m.login.sso to users who have one.
CREATE TABLE user_external_ids (
  auth_provider text NOT NULL,
  external_id text NOT NULL,
  user_id text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  created_ts bigint NOT NULL,
  PRIMARY KEY (auth_provider, external_id)
);
CREATE INDEX user_external_ids_user ON user_external_ids (user_id);

-- login_tokens: the short-lived, single-use loginToken a sign-on hands to the client, exchanged at
-- POST /login (m.login.token) on any instance. Only a SHA-256 of each token is stored; expired ones are
-- removed as new ones are issued.
CREATE TABLE login_tokens (
  token_hash bytea PRIMARY KEY,
  user_id text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  auth_provider text,
  expires_ts bigint NOT NULL,
  created_ts bigint NOT NULL
);
CREATE INDEX login_tokens_expiry ON login_tokens (expires_ts);
CREATE INDEX login_tokens_user ON login_tokens (user_id);
