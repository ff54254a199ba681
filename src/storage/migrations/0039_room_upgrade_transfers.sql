-- Room upgrades whose carry-over this server has done (src/directory/succession.ts): its aliases and
-- directory listing moved, its members' tags, m.direct entry and push rules copied to the replacement room.
-- One row per (old room, replacement): the carry-over happens once, whichever event made it due.
CREATE TABLE room_upgrade_transfers (
  old_room_id text NOT NULL,
  new_room_id text NOT NULL,
  transferred_ts bigint NOT NULL,
  PRIMARY KEY (old_room_id, new_room_id)
);
