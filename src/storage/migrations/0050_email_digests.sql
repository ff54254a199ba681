-- Digest mails of missed messages (e-mail pushers: kind 'email', app_id 'm.email', pushkey an address of
-- the user). What such a pusher has to mail is queued in push_queue like any pusher's deliveries; last_mail_ts
-- (milliseconds) is when its last digest left, so the next one waits for the throttle window.
ALTER TABLE pushers ADD COLUMN last_mail_ts bigint;

-- The tokens of the unsubscribe links in digest mails: random, one per mail, stored only as a SHA-256.
-- Gone with their pusher; the oldest of a pusher are pruned as new ones are made.
CREATE TABLE email_unsubscribe_tokens (
  token_hash bytea PRIMARY KEY,
  pusher_id bigint NOT NULL REFERENCES pushers (id) ON DELETE CASCADE,
  created_ts bigint NOT NULL
);
CREATE INDEX email_unsubscribe_tokens_pusher ON email_unsubscribe_tokens (pusher_id, created_ts);
