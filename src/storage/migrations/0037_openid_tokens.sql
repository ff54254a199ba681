-- OpenID tokens (client-server API, "OpenID"; server-server API, "OpenID"): issued to a user for a
-- third party, which exchanges one at /_matrix/federation/v1/openid/userinfo for the user's ID. Only a
-- SHA-256 of each token is stored. Expired ones are removed as new ones are issued, and a user keeps a
-- bounded number at once (see OpenIdTokensRepository.insert).
CREATE TABLE openid_tokens (
  token_hash bytea PRIMARY KEY,
  user_id text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  expires_ts bigint NOT NULL,
  created_ts bigint NOT NULL
);
CREATE INDEX openid_tokens_user ON openid_tokens (user_id, created_ts DESC);
CREATE INDEX openid_tokens_expiry ON openid_tokens (expires_ts);
