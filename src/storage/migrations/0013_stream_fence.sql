-- The stream fence, without blocking anyone. Migration 0002's fence took the writers' advisory lock
-- exclusively, so each read waited for every writer in flight and, while it waited, held back every new
-- writer behind it in the lock queue: under concurrent sends the whole server advanced in waves.
--
-- Now each stream transaction, in its BEGIN round trip, holds the fence lock shared (as before: "I am a
-- writer") and then takes a position and holds an advisory lock named after it (bit 62 set, so it cannot
-- meet any other advisory key). Every position the transaction takes later is higher, so the lowest
-- position lock held by a writer bounds what may still be uncommitted. The fence reads the sequence, then
-- the lock table: the safe position is just below the lowest held position lock, or the sequence's value
-- when no writer is in flight. A writer seen holding the fence lock but no position lock yet is between
-- its nextval and its lock (microseconds): the fence looks again.
CREATE OR REPLACE FUNCTION stream_fence() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  last bigint;
  called boolean;
  lowest bigint;
  between_steps integer;
  this_db oid;
BEGIN
  SELECT oid INTO this_db FROM pg_database WHERE datname = current_database();
  LOOP
    -- The sequence first: any writer whose position is at or below `last` is visible in the lock table now.
    SELECT last_value, is_called INTO last, called FROM stream_seq;
    WITH l AS (
      SELECT pid, classid::bigint AS hi, objid::bigint AS lo FROM pg_locks
       WHERE locktype = 'advisory' AND database = this_db AND objsubid = 1 AND granted
    ), positions AS (
      SELECT pid, ((hi & 1073741823) << 32) | lo AS position FROM l WHERE hi >= 1073741824 AND hi < 2147483648
    ), writers AS (
      -- 7386051113, the fence key, is classid 1 and objid 3091083817.
      SELECT pid FROM l WHERE hi = 1 AND lo = 3091083817
    )
    SELECT (SELECT min(position) FROM positions),
           (SELECT count(*) FROM writers w WHERE NOT EXISTS (SELECT 1 FROM positions p WHERE p.pid = w.pid))
      INTO lowest, between_steps;
    EXIT WHEN between_steps = 0;
    PERFORM pg_sleep(0.0002);
  END LOOP;
  IF lowest IS NOT NULL THEN
    RETURN lowest - 1;
  END IF;
  RETURN CASE WHEN called THEN last ELSE 0 END;
END
$$;
