import type { Queryable } from '../db.ts'

export interface MembershipRow {
  room_id: string
  user_id: string
  membership: string
  event_id: string
  stream_ordering: number
  sender: string
  forgotten: boolean
}

export class MembershipsRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** A write: inside a transaction, nobody waits for it (statements after it see it). */
  async set(row: Omit<MembershipRow, 'forgotten'>): Promise<void> {
    await this.db.write(
      `INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering, sender) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (room_id, user_id) DO UPDATE SET membership = EXCLUDED.membership, event_id = EXCLUDED.event_id,
         stream_ordering = EXCLUDED.stream_ordering, sender = EXCLUDED.sender, forgotten = false`,
      [row.room_id, row.user_id, row.membership, row.event_id, row.stream_ordering, row.sender],
    )
  }

  /** Several members' rows of one room at once (state resolution or a join's state changing them). */
  async setMany(rows: Array<Omit<MembershipRow, 'forgotten'>>): Promise<void> {
    if (rows.length === 0) return
    await this.db.write(
      `INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering, sender)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])
       ON CONFLICT (room_id, user_id) DO UPDATE SET membership = EXCLUDED.membership, event_id = EXCLUDED.event_id,
         stream_ordering = EXCLUDED.stream_ordering, sender = EXCLUDED.sender, forgotten = false`,
      [rows.map((r) => r.room_id), rows.map((r) => r.user_id), rows.map((r) => r.membership), rows.map((r) => r.event_id), rows.map((r) => r.stream_ordering), rows.map((r) => r.sender)],
    )
  }

  /** Removes members' rows (their member event left the room's state). */
  async removeMany(roomId: string, userIds: string[]): Promise<void> {
    if (userIds.length === 0) return
    await this.db.write('DELETE FROM room_memberships WHERE room_id = $1 AND user_id = ANY($2::text[])', [roomId, userIds])
  }

  async get(roomId: string, userId: string): Promise<MembershipRow | null> {
    const { rows } = await this.db.query<MembershipRow>('SELECT * FROM room_memberships WHERE room_id = $1 AND user_id = $2', [roomId, userId])
    return rows[0] ?? null
  }

  /** The user's rooms with one of the given memberships (forgotten rooms left out). */
  async roomsOf(userId: string, memberships: string[]): Promise<MembershipRow[]> {
    const { rows } = await this.db.query<MembershipRow>(
      'SELECT * FROM room_memberships WHERE user_id = $1 AND membership = ANY($2::text[]) AND NOT forgotten',
      [userId, memberships],
    )
    return rows
  }

  /** Every membership row of the user whose stream position is in (after, upTo]. */
  async changedFor(userId: string, after: number, upTo: number): Promise<MembershipRow[]> {
    const { rows } = await this.db.query<MembershipRow>(
      'SELECT * FROM room_memberships WHERE user_id = $1 AND stream_ordering > $2 AND stream_ordering <= $3',
      [userId, after, upTo],
    )
    return rows
  }

  async members(roomId: string, memberships: string[]): Promise<MembershipRow[]> {
    const { rows } = await this.db.query<MembershipRow>(
      'SELECT * FROM room_memberships WHERE room_id = $1 AND membership = ANY($2::text[]) ORDER BY user_id',
      [roomId, memberships],
    )
    return rows
  }

  /** Whether a user of `serverName` is joined to the room (this server's own: whether it is in the room). */
  async hasJoinedOfServer(roomId: string, serverName: string): Promise<boolean> {
    const { rows } = await this.db.query(
      `SELECT 1 FROM room_memberships WHERE room_id = $1 AND membership = 'join' AND right(user_id, $3) = $2 LIMIT 1`,
      [roomId, `:${serverName}`, serverName.length + 1],
    )
    return rows.length > 0
  }

  /** Users of one server with this membership in the room (the room's rows only, however many members it has). */
  async ofServer(roomId: string, serverName: string, membership: string): Promise<string[]> {
    const { rows } = await this.db.query<{ user_id: string }>(
      `SELECT user_id FROM room_memberships WHERE room_id = $1 AND membership = $2 AND right(user_id, $4) = $3 ORDER BY user_id LIMIT 1000`,
      [roomId, membership, `:${serverName}`, serverName.length + 1],
    )
    return rows.map((r) => r.user_id)
  }

  /** This server's guest accounts joined to the room (client-server API, "Guest Access"). */
  async joinedGuests(roomId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ user_id: string }>(
      `SELECT m.user_id FROM room_memberships m JOIN users u ON u.user_id = m.user_id
        WHERE m.room_id = $1 AND m.membership = 'join' AND u.is_guest ORDER BY m.user_id`,
      [roomId],
    )
    return rows.map((r) => r.user_id)
  }

  async forget(roomId: string, userId: string): Promise<void> {
    await this.db.query('UPDATE room_memberships SET forgotten = true WHERE room_id = $1 AND user_id = $2', [roomId, userId])
  }

  /** Of these (room, user) pairs, those where the user is joined, as `room_id + '\n' + user_id`. */
  async joinedPairs(pairs: Array<[string, string]>): Promise<Set<string>> {
    if (pairs.length === 0) return new Set()
    const { rows } = await this.db.query<{ room_id: string; user_id: string }>(
      `SELECT m.room_id, m.user_id FROM room_memberships m JOIN unnest($1::text[], $2::text[]) AS p(room_id, user_id)
          ON m.room_id = p.room_id AND m.user_id = p.user_id
        WHERE m.membership = 'join'`,
      [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
    )
    return new Set(rows.map((r) => `${r.room_id}\n${r.user_id}`))
  }

  /** Those of these users joined to at least one room here. */
  async joinedAnywhere(userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set()
    const { rows } = await this.db.query<{ user_id: string }>(
      `SELECT DISTINCT user_id FROM room_memberships WHERE user_id = ANY($1::text[]) AND membership = 'join'`,
      [userIds],
    )
    return new Set(rows.map((r) => r.user_id))
  }

  /** The rooms any of these users is joined to (whom a change of theirs concerns). */
  async joinedRoomsOfAny(userIds: string[]): Promise<string[]> {
    if (userIds.length === 0) return []
    const { rows } = await this.db.query<{ room_id: string }>(
      `SELECT DISTINCT room_id FROM room_memberships WHERE user_id = ANY($1::text[]) AND membership = 'join'`,
      [userIds],
    )
    return rows.map((r) => r.room_id)
  }
}
