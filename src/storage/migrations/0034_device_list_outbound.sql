-- The stream ID of the last m.device_list_update sent to other servers for each local user: the next update
-- names it as its prev_id, so a server that missed one can tell (and fetch the list whole). A user's row is
-- locked while an update takes its stream IDs, so a user's updates go out in stream order.
CREATE TABLE device_list_outbound (
  user_id text PRIMARY KEY,
  stream_id bigint NOT NULL
);
