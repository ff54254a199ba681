import type { Queryable } from '../db.ts'

export interface PresenceRow {
  user_id: string
  state: string
  status_msg: string | null
  last_active_ts: number
  last_seen_ts: number
  /** The last time a client asked for online (sync or PUT). */
  last_online_ts: number
  stream_position: number
}

/** `b` shares a joined room with `$1` (through the (user_id, membership) and primary key indexes). */
const SHARES_ROOM = (b: string) => `EXISTS (
  SELECT 1 FROM room_memberships mine JOIN room_memberships theirs ON theirs.room_id = mine.room_id
   WHERE mine.user_id = $1 AND mine.membership = 'join' AND theirs.user_id = ${b} AND theirs.membership = 'join')`

/** Owns `presence` (migration 0006). */
export class PresenceRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async get(userId: string): Promise<PresenceRow | null> {
    const { rows } = await this.db.query<PresenceRow>('SELECT * FROM presence WHERE user_id = $1', [userId])
    return rows[0] ?? null
  }

  /** The rows of several users (those without one are left out). */
  async getMany(userIds: string[]): Promise<PresenceRow[]> {
    if (userIds.length === 0) return []
    const { rows } = await this.db.query<PresenceRow>('SELECT * FROM presence WHERE user_id = ANY($1::text[])', [userIds])
    return rows
  }

  /**
   * The presence of a room's joined members of one server that are not offline, the most recently active
   * first, at most `limit` (through the room's memberships).
   */
  async activeMembersOf(roomId: string, serverName: string, limit: number): Promise<PresenceRow[]> {
    const { rows } = await this.db.query<PresenceRow>(
      `SELECT p.* FROM room_memberships m JOIN presence p ON p.user_id = m.user_id
        WHERE m.room_id = $1 AND m.membership = 'join' AND p.state <> 'offline' AND substr(m.user_id, strpos(m.user_id, ':') + 1) = $2
        ORDER BY p.last_active_ts DESC LIMIT $3`,
      [roomId, serverName, limit],
    )
    return rows
  }

  /** The row, locked for the rest of the transaction. */
  async lock(userId: string): Promise<PresenceRow | null> {
    const { rows } = await this.db.query<PresenceRow>('SELECT * FROM presence WHERE user_id = $1 FOR UPDATE', [userId])
    return rows[0] ?? null
  }

  async put(row: PresenceRow): Promise<void> {
    await this.db.query(
      `INSERT INTO presence (user_id, state, status_msg, last_active_ts, last_seen_ts, last_online_ts, stream_position)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (user_id) DO UPDATE SET state = EXCLUDED.state, status_msg = EXCLUDED.status_msg, last_active_ts = EXCLUDED.last_active_ts,
         last_seen_ts = EXCLUDED.last_seen_ts, last_online_ts = EXCLUDED.last_online_ts, stream_position = EXCLUDED.stream_position`,
      [row.user_id, row.state, row.status_msg, row.last_active_ts, row.last_seen_ts, row.last_online_ts, row.stream_position],
    )
  }

  /** Writes several users' rows at one stream position (one statement). */
  async putMany(rows: Omit<PresenceRow, 'stream_position'>[], position: number): Promise<void> {
    if (rows.length === 0) return
    const column = <K extends Exclude<keyof PresenceRow, 'stream_position'>>(k: K) => rows.map((r) => r[k])
    await this.db.query(
      `INSERT INTO presence (user_id, state, status_msg, last_active_ts, last_seen_ts, last_online_ts, stream_position)
       SELECT *, $7::bigint FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[])
       ON CONFLICT (user_id) DO UPDATE SET state = EXCLUDED.state, status_msg = EXCLUDED.status_msg, last_active_ts = EXCLUDED.last_active_ts,
         last_seen_ts = EXCLUDED.last_seen_ts, last_online_ts = EXCLUDED.last_online_ts, stream_position = EXCLUDED.stream_position`,
      [column('user_id'), column('state'), column('status_msg'), column('last_active_ts'), column('last_seen_ts'), column('last_online_ts'), position],
    )
  }

  /** Records that the user was seen (and, when `online`, active and asking for online) without a visible change. */
  async touch(userId: string, now: number, online: boolean): Promise<void> {
    await this.db.query(
      `UPDATE presence SET last_seen_ts = GREATEST(last_seen_ts, $2),
              last_active_ts = CASE WHEN $3 THEN GREATEST(last_active_ts, $2) ELSE last_active_ts END,
              last_online_ts = CASE WHEN $3 THEN GREATEST(last_online_ts, $2) ELSE last_online_ts END
        WHERE user_id = $1`,
      [userId, now, online],
    )
  }

  /** Claims users who are not offline and were last seen before `before` (SKIP LOCKED: one sweeper each). */
  async claimUnseen(before: number, limit: number): Promise<PresenceRow[]> {
    const { rows } = await this.db.query<PresenceRow>(
      `SELECT * FROM presence WHERE state <> 'offline' AND last_seen_ts < $1
        ORDER BY last_seen_ts LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [before, limit],
    )
    return rows
  }

  async setOffline(userIds: string[], positions: number[]): Promise<void> {
    if (userIds.length === 0) return
    await this.db.query(
      `UPDATE presence p SET state = 'offline', stream_position = x.position
         FROM unnest($1::text[], $2::bigint[]) AS x(user_id, position) WHERE p.user_id = x.user_id`,
      [userIds, positions],
    )
  }

  /** Whether two users share a joined room. */
  async shareRoom(userId: string, other: string): Promise<boolean> {
    const { rows } = await this.db.query(`SELECT ${SHARES_ROOM('$2')} AS shared`, [userId, other])
    return rows[0]?.shared === true
  }

  /** Initial sync: the presence of the user and of everyone sharing a joined room with them, offline left out. */
  async current(userId: string): Promise<PresenceRow[]> {
    const { rows } = await this.db.query<PresenceRow>(
      `SELECT p.* FROM presence p
        WHERE p.state <> 'offline' AND p.user_id IN (
          SELECT $1::text
          UNION
          SELECT theirs.user_id FROM room_memberships mine JOIN room_memberships theirs ON theirs.room_id = mine.room_id AND theirs.membership = 'join'
           WHERE mine.user_id = $1 AND mine.membership = 'join')`,
      [userId],
    )
    return rows
  }

  /** The presence changed in (after, upTo] of a room's joined members (a peek into a world_readable room). */
  async changedInRoom(roomId: string, after: number, upTo: number): Promise<PresenceRow[]> {
    const { rows } = await this.db.query<PresenceRow>(
      `SELECT p.* FROM presence p JOIN room_memberships m ON m.room_id = $1 AND m.user_id = p.user_id AND m.membership = 'join'
        WHERE p.stream_position > $2 AND p.stream_position <= $3`,
      [roomId, after, upTo],
    )
    return rows
  }

  /**
   * Incremental sync over (after, upTo]: presence changed in the range of the user and of room-mates, plus
   * the presence of users who became room-mates in the range — members of rooms the user joined, or whose
   * member event in one of the user's rooms is in the range — whose presence is older, offline ones too
   * (a row of state offline and times 0 for a user never seen), so the client learns each new room-mate's
   * presence once, as from Synapse.
   */
  async changed(userId: string, after: number, upTo: number): Promise<PresenceRow[]> {
    const { rows } = await this.db.query<PresenceRow>(
      `SELECT p.* FROM presence p
        WHERE p.stream_position > $2 AND p.stream_position <= $3 AND (p.user_id = $1 OR ${SHARES_ROOM('p.user_id')})
       UNION
       SELECT n.user_id, COALESCE(p.state, 'offline') AS state, p.status_msg, COALESCE(p.last_active_ts, 0) AS last_active_ts,
              COALESCE(p.last_seen_ts, 0) AS last_seen_ts, COALESCE(p.last_online_ts, 0) AS last_online_ts, COALESCE(p.stream_position, 0) AS stream_position
         FROM (
          SELECT e.state_key AS user_id FROM room_memberships mine
            JOIN events e ON e.room_id = mine.room_id AND e.stream_ordering > $2 AND e.stream_ordering <= $3 AND e.type = 'm.room.member'
           WHERE mine.user_id = $1 AND mine.membership = 'join'
          UNION
          SELECT theirs.user_id FROM room_memberships mine JOIN room_memberships theirs ON theirs.room_id = mine.room_id AND theirs.membership = 'join'
           WHERE mine.user_id = $1 AND mine.membership = 'join' AND mine.stream_ordering > $2 AND mine.stream_ordering <= $3
         ) n LEFT JOIN presence p ON p.user_id = n.user_id
        WHERE n.user_id <> $1 AND ${SHARES_ROOM('n.user_id')}`,
      [userId, after, upTo],
    )
    return rows
  }
}
