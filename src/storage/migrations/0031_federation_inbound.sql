-- Inbound federation (server-server API, "Transactions", "Send-to-device messaging", "Device Management").
--
-- Transactions received through PUT /_matrix/federation/v1/send/{txnId}, per origin. The first instance to
-- insert the row processes the transaction (claimed_ts is its lease) and stores the answer; a retry, on any
-- instance, answers the stored response without processing anything again. A claim older than the lease
-- (its instance died) is taken over. Rows are pruned after a day: senders retry within minutes.
CREATE TABLE federation_inbound_txns (
  origin text NOT NULL,
  txn_id text NOT NULL,
  claimed_ts bigint NOT NULL,
  -- The JSON answer; NULL while the transaction is being processed.
  response text,
  PRIMARY KEY (origin, txn_id)
);
CREATE INDEX federation_inbound_txns_claimed ON federation_inbound_txns (claimed_ts);

-- message_id of the m.direct_to_device EDUs received, per origin: a repeat delivers nothing again.
CREATE TABLE to_device_federation_ids (
  origin text NOT NULL,
  message_id text NOT NULL,
  received_ts bigint NOT NULL,
  PRIMARY KEY (origin, message_id)
);
CREATE INDEX to_device_federation_ids_received ON to_device_federation_ids (received_ts);

-- Other servers' users' device lists, kept from m.device_list_update EDUs (and from full fetches of
-- /user/devices once those are made). stream_id is the highest update applied; seen_ids the last few,
-- against which an update's prev_id is checked; stale marks a list that missed an update (or was never
-- fetched whole) and must be fetched again.
CREATE TABLE remote_device_lists (
  user_id text PRIMARY KEY,
  stream_id bigint NOT NULL,
  seen_ids bigint[] NOT NULL,
  stale boolean NOT NULL,
  updated_ts bigint NOT NULL
);
CREATE INDEX remote_device_lists_stale ON remote_device_lists (updated_ts) WHERE stale;

-- One row per remote device: its public name and its device keys (JSON), either absent.
CREATE TABLE remote_devices (
  user_id text NOT NULL,
  device_id text NOT NULL,
  display_name text,
  keys_json text,
  PRIMARY KEY (user_id, device_id)
);

-- Remote users' master and self-signing keys (m.signing_key_update); user-signing keys are never shared.
CREATE TABLE remote_cross_signing_keys (
  user_id text NOT NULL,
  key_type text NOT NULL CHECK (key_type IN ('master', 'self_signing')),
  key_json text NOT NULL,
  PRIMARY KEY (user_id, key_type)
);
