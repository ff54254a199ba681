-- Pushers and the durable push queue (client-server API, "Push Notifications"; push gateway API).

-- One pusher per (app_id, pushkey, user). It belongs to the device whose session created (or last set) it
-- and goes with that device: logout, device deletion, password change with logout_devices and
-- deactivation all delete devices, so no path that ends a session can forget its pushers.
-- Delivery state: failures/retry_at (exponential backoff), failing_since (when the current run of failures
-- began), the lease of the instance delivering to it (lease_holder until lease_until; another instance takes
-- over once it lapses), last_badge (the unread count the gateway last heard). Times are milliseconds since
-- the epoch by the database's clock, so instances with skewed clocks agree.
CREATE TABLE pushers (
  id bigserial PRIMARY KEY,
  user_id text NOT NULL,
  device_id text NOT NULL,
  kind text NOT NULL,
  app_id text NOT NULL,
  pushkey text NOT NULL,
  app_display_name text NOT NULL,
  device_display_name text NOT NULL,
  profile_tag text,
  lang text NOT NULL,
  data jsonb NOT NULL,
  pushkey_ts bigint NOT NULL,
  failures integer NOT NULL DEFAULT 0,
  failing_since bigint,
  retry_at bigint NOT NULL DEFAULT 0,
  lease_holder text,
  lease_until bigint,
  last_badge integer,
  UNIQUE (user_id, app_id, pushkey),
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX pushers_device ON pushers (user_id, device_id);
CREATE INDEX pushers_key ON pushers (app_id, pushkey);

-- What each pusher has still to deliver, oldest first (id). A notification about an event (event_id set,
-- with the tweaks of the push rule that matched it) is written in the event's own transaction; a badge
-- update (event_id null: the unread count alone, after the user read something) at most once per pusher.
-- Deleted once the gateway accepted it; gone with its pusher.
CREATE SEQUENCE push_queue_seq;
CREATE TABLE push_queue (
  pusher_id bigint NOT NULL REFERENCES pushers (id) ON DELETE CASCADE,
  id bigint NOT NULL DEFAULT nextval('push_queue_seq'),
  room_id text,
  event_id text,
  tweaks jsonb,
  created_ts bigint NOT NULL,
  PRIMARY KEY (pusher_id, id)
);
CREATE UNIQUE INDEX push_queue_badge ON push_queue (pusher_id) WHERE event_id IS NULL;
