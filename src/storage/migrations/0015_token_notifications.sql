-- Instances cache access tokens in memory (src/users/token-cache.ts). Whatever revokes a token or changes
-- an account (logout, device deletion and its cascade, deactivation, the admin flag, from any instance or
-- the command line) tells every instance here, on commit: one notification per user on the tokens channel.
-- Triggers rather than application code, so that no path that deletes tokens can forget to say so.
CREATE FUNCTION notify_token_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('homestead_tokens', u.user_id) FROM (SELECT DISTINCT user_id FROM changed) u;
  RETURN NULL;
END
$$;

CREATE TRIGGER access_tokens_deleted AFTER DELETE ON access_tokens
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_token_users();

-- Any update of a user row (the admin flag and deactivation matter; the rest is rare and costs one message).
CREATE TRIGGER users_updated AFTER UPDATE ON users
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_token_users();
