-- device_list_changes is only read by position ranges, which its primary key serves: the per-user index
-- cost a write on every change for no reader.
DROP INDEX device_list_changes_user;
-- Replacing cross-signing keys and deactivating an account delete the signatures a user made.
CREATE INDEX e2e_key_signatures_signer ON e2e_key_signatures (signer_user_id, signer_key_id);
