-- End-to-end encryption: what the server keeps for Olm/Megolm clients (it never sees plaintext).
-- Key JSON is stored as text, exactly as the client signed it; signatures added later live in their own
-- table and are merged in when keys are queried.

-- Device identity keys (POST /keys/upload), one row per device; they go with the device.
CREATE TABLE e2e_device_keys (
  user_id text NOT NULL,
  device_id text NOT NULL,
  key_json text NOT NULL,
  PRIMARY KEY (user_id, device_id),
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- One-time keys; a claim deletes the key it hands out.
CREATE TABLE e2e_one_time_keys (
  user_id text NOT NULL,
  device_id text NOT NULL,
  algorithm text NOT NULL,
  key_id text NOT NULL,
  key_json text NOT NULL,
  PRIMARY KEY (user_id, device_id, algorithm, key_id),
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- Fallback keys: one per device and algorithm, handed out (and marked used) when no one-time key is left.
CREATE TABLE e2e_fallback_keys (
  user_id text NOT NULL,
  device_id text NOT NULL,
  algorithm text NOT NULL,
  key_id text NOT NULL,
  key_json text NOT NULL,
  used boolean NOT NULL DEFAULT false,
  PRIMARY KEY (user_id, device_id, algorithm),
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- Cross-signing keys (master, self_signing, user_signing), the latest of each type per user.
CREATE TABLE e2e_cross_signing_keys (
  user_id text NOT NULL,
  key_type text NOT NULL CHECK (key_type IN ('master', 'self_signing', 'user_signing')),
  -- The public key (unpadded Base64), which is also its key ID after "ed25519:".
  public_key text NOT NULL,
  key_json text NOT NULL,
  PRIMARY KEY (user_id, key_type)
);

-- Signatures uploaded through /keys/signatures/upload: a signer's key over a target device or master key.
-- A user's own signatures are shown to everyone; another user's (user-signing key) only to that signer.
CREATE TABLE e2e_key_signatures (
  target_user_id text NOT NULL,
  -- A device ID, or a cross-signing public key.
  target_key_id text NOT NULL,
  signer_user_id text NOT NULL,
  -- e.g. "ed25519:<public key or device ID>"
  signer_key_id text NOT NULL,
  signature text NOT NULL,
  PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
);

-- Whose device list changed at which stream position (device keys, devices removed, cross-signing),
-- for /sync device_lists and GET /keys/changes. Kept, unlike stream_log: any old token must still work.
CREATE TABLE device_list_changes (
  position bigint NOT NULL,
  user_id text NOT NULL,
  PRIMARY KEY (position, user_id)
);
CREATE INDEX device_list_changes_user ON device_list_changes (user_id, position);

-- Membership events by stream position, for "who started or stopped sharing a room with me".
CREATE INDEX events_member_stream ON events (stream_ordering) WHERE type = 'm.room.member';

-- To-device messages waiting for their device; deleted once the device acknowledges them with its next
-- sync token. Positions come from stream_seq, so delivery follows the stream fence.
CREATE TABLE to_device_messages (
  user_id text NOT NULL,
  device_id text NOT NULL,
  position bigint NOT NULL,
  sender text NOT NULL,
  type text NOT NULL,
  content text NOT NULL,
  PRIMARY KEY (user_id, device_id, position),
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- Transaction IDs of PUT /sendToDevice, per device, so a retry on any instance sends nothing twice.
CREATE TABLE to_device_txns (
  user_id text NOT NULL,
  device_id text NOT NULL,
  txn_id text NOT NULL,
  created_ts bigint NOT NULL,
  PRIMARY KEY (user_id, device_id, txn_id),
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- A dehydrated device (MSC3814): created by a client for itself, holding no access token, so that
-- to-device messages sent while every real device is offline wait for a future login to pick them up.
-- dehydrated_data is the client's encrypted device pickle (JSON); NULL for every ordinary device.
ALTER TABLE devices ADD COLUMN dehydrated_data text;
CREATE UNIQUE INDEX devices_one_dehydrated ON devices (user_id) WHERE dehydrated_data IS NOT NULL;
