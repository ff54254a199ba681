-- One-time keys are handed out in the order they were uploaded (client-server API v1.13, POST /keys/claim;
-- keys of one upload are equivalent). Key IDs do not sort in upload order as text ("AAAA10" < "AAAA2"), so
-- each upload takes a number from a sequence and claims take the lowest. Keys stored before this migration
-- count as uploaded first.
CREATE SEQUENCE e2e_one_time_key_uploads;
ALTER TABLE e2e_one_time_keys ADD COLUMN upload bigint NOT NULL DEFAULT 0;
CREATE INDEX e2e_one_time_keys_claim_order ON e2e_one_time_keys (user_id, device_id, algorithm, upload, key_id);
