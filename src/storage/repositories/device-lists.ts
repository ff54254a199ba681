import type { Queryable } from '../db.ts'

export interface SharingChanges {
  /** Users whose keys changed, or who started sharing a room with the viewer. */
  changed: string[]
  /** Users who no longer share any room with the viewer. */
  left: string[]
}

/** Whose device lists changed, and who started or stopped sharing a room with whom. */
export class DeviceListsRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** Records that these users' device lists changed at a position taken by the caller's transaction. */
  async record(position: number, userIds: string[], seenBy: string | null = null): Promise<void> {
    await this.db.query(
      'INSERT INTO device_list_changes (position, user_id, seen_by) SELECT $1, u, $3 FROM unnest($2::text[]) u ON CONFLICT DO NOTHING',
      [position, userIds, seenBy],
    )
  }

  /** Records that a user's device list changed at each of these positions (taken by the caller's transaction). */
  async recordPositions(userId: string, positions: number[]): Promise<void> {
    await this.db.query('INSERT INTO device_list_changes (position, user_id) SELECT p, $1 FROM unnest($2::bigint[]) p ON CONFLICT DO NOTHING', [userId, positions])
  }

  /**
   * Locks the user's outbound update row until the transaction ends (taken before the update's stream IDs,
   * so that a user's updates are numbered in the order they are sent); returns the stream ID last sent, or
   * null when none was.
   */
  async lockSent(userId: string): Promise<number | null> {
    const { rows } = await this.db.query<{ stream_id: string }>(
      `INSERT INTO device_list_outbound (user_id, stream_id) VALUES ($1, 0)
       ON CONFLICT (user_id) DO UPDATE SET stream_id = device_list_outbound.stream_id RETURNING stream_id`,
      [userId],
    )
    const last = Number(rows[0]?.stream_id ?? 0)
    return last > 0 ? last : null
  }

  /** The stream ID of the user's last update sent (row locked by lockSent). */
  async setSent(userId: string, streamId: number): Promise<void> {
    await this.db.query('UPDATE device_list_outbound SET stream_id = $2 WHERE user_id = $1', [userId, streamId])
  }

  /**
   * What the viewer's clients must learn between two positions, in one query:
   * - users (the viewer included) whose device list changed and who share a room with the viewer now: joined
   *   to one the viewer is joined to, or invited to it (clients encrypt for invited members too); and users
   *   whose change only the viewer is told about (seen_by), shared room or not;
   * - users who joined or were invited to a room the viewer is in, and everyone in a room the viewer joined;
   * - as `left`, users who stopped sharing any room with the viewer (they or the viewer left one).
   * Users the viewer never shared a room with are not mentioned.
   */
  async changesFor(viewer: string, since: number, upTo: number, includeKeyChanges: boolean): Promise<SharingChanges> {
    const { rows } = await this.db.query<{ user_id: string; by_membership: boolean; shares: boolean }>(
      `WITH mine AS (
         SELECT room_id FROM room_memberships WHERE user_id = $1 AND membership = 'join'
       ), member_events AS (
         SELECT e.room_id, e.state_key AS user_id FROM events e
          WHERE e.type = 'm.room.member' AND e.stream_ordering > $2 AND e.stream_ordering <= $3
       ), my_rooms_changed AS (
         SELECT DISTINCT room_id FROM member_events WHERE user_id = $1
       ), candidates AS (
         SELECT d.user_id, false AS by_membership, d.seen_by IS NOT NULL AS direct FROM device_list_changes d
          WHERE $4 AND d.position > $2 AND d.position <= $3 AND (d.seen_by IS NULL OR d.seen_by = $1)
         UNION ALL
         -- Someone joined, was invited to or left a room the viewer is in (or has just left).
         SELECT me.user_id, true, false FROM member_events me
           JOIN room_memberships cur ON cur.room_id = me.room_id AND cur.user_id = me.user_id
          WHERE me.user_id <> $1 AND cur.membership IN ('join', 'invite', 'leave', 'ban')
            AND (me.room_id IN (SELECT room_id FROM mine) OR me.room_id IN (SELECT room_id FROM my_rooms_changed))
         UNION ALL
         -- The viewer joined or left a room: everyone in it.
         SELECT m.user_id, true, false FROM room_memberships m
          WHERE m.room_id IN (SELECT room_id FROM my_rooms_changed) AND m.user_id <> $1 AND m.membership = 'join'
       )
       SELECT c.user_id, bool_or(c.by_membership) AS by_membership,
              c.user_id = $1 OR bool_or(c.direct) OR EXISTS (
                SELECT 1 FROM room_memberships o
                 WHERE o.user_id = c.user_id AND o.membership IN ('join', 'invite') AND o.room_id IN (SELECT room_id FROM mine)
              ) AS shares
         FROM candidates c GROUP BY c.user_id`,
      [viewer, since, upTo, includeKeyChanges],
    )
    return {
      changed: rows.filter((r) => r.shares).map((r) => r.user_id).sort(),
      left: rows.filter((r) => !r.shares && r.by_membership).map((r) => r.user_id).sort(),
    }
  }
}
