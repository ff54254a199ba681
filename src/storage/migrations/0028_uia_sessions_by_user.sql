-- A device's own /keys/query looks for the cross-signing keys it proposed in its user's pending
-- key-replacement sessions (CrossSigning.proposedBy): by user and purpose, newest first. Without this
-- index each such query scanned every live session of the server.
CREATE INDEX uia_sessions_user_purpose ON uia_sessions (user_id, purpose, created_ts DESC);
