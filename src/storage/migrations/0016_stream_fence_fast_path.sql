-- The stream fence's fast path: when no writer is in flight, the sequence's value is safe, and that can
-- be known without scanning pg_locks (migration 0013's path, which costs more the more locks are held).
-- Every writer holds the fence lock shared from its BEGIN to its end, so winning it exclusively (try, never
-- wait: a waiting exclusive request would hold back every new writer behind it) means none is in flight;
-- every position at or below the sequence's value, read while holding it, belongs to a finished writer.
-- The lock is transaction-level (an error or a timeout cannot leave it behind on a pooled connection):
-- callers read the fence in a statement of its own, outside any transaction, and it ends with that statement.
ALTER FUNCTION stream_fence() RENAME TO stream_fence_scan;

CREATE FUNCTION stream_fence() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  last bigint;
  called boolean;
BEGIN
  IF pg_try_advisory_xact_lock(7386051113) THEN
    SELECT last_value, is_called INTO last, called FROM stream_seq;
    RETURN CASE WHEN called THEN last ELSE 0 END;
  END IF;
  RETURN stream_fence_scan();
END
$$;

-- The fence and what the positions in (after, fence] touched, in one call: how the notifier reads the
-- stream, as a statement of its own or riding on a writer's COMMIT (in the same message, after it, so a
-- long-poll woken by that commit costs no extra round trip). Rows with a NULL position: nothing in range;
-- without with_changes (nobody waits to hear of them), the fence alone.
CREATE FUNCTION stream_changes_after(after bigint, with_changes boolean)
RETURNS TABLE (safe bigint, "position" bigint, kind text, room_id text, user_id text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  fence bigint := stream_fence();
BEGIN
  RETURN QUERY
    SELECT fence, l.position, l.kind, l.room_id, l.user_id
      FROM (SELECT 1) one LEFT JOIN stream_log l ON with_changes AND l.position > after AND l.position <= fence
     ORDER BY l.position;
END
$$;
