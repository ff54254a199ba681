import { lockName, lockNames, type Queryable } from '../db.ts'

/** What the room directory and the space hierarchy show of a room (table room_summaries). */
export interface RoomSummaryRow {
  room_id: string
  room_type: string | null
  name: string | null
  topic: string | null
  canonical_alias: string | null
  avatar_url: string | null
  join_rule: string | null
  history_visibility: string | null
  guest_access: string | null
  encryption: string | null
  allowed_room_ids: string[] | null
  joined_members: number
  invited_members: number
}

export type SummaryFields = Partial<Omit<RoomSummaryRow, 'room_id' | 'joined_members' | 'invited_members'>>

/** The columns an event may set, in a fixed order (column names never come from input). */
const FIELD_COLUMNS = [
  'room_type',
  'name',
  'topic',
  'canonical_alias',
  'avatar_url',
  'join_rule',
  'history_visibility',
  'guest_access',
  'encryption',
  'allowed_room_ids',
] as const satisfies ReadonlyArray<keyof SummaryFields>

export interface PublicRoomsQuery {
  limit: number
  /** Keyset bound: rooms after (forward) or before (backward) this (joined_members, room_id). */
  after?: { joined: number; roomId: string; forward: boolean } | undefined
  /** A LIKE pattern (already escaped, with % around it) matched against name, topic and canonical alias. */
  pattern?: string | undefined
  /** Room types to keep; null in the list keeps rooms without a type. Undefined: every type. */
  roomTypes?: Array<string | null> | undefined
}

export interface ReportInsert {
  reporter: string
  kind: 'event' | 'room' | 'user'
  room_id: string | null
  event_id: string | null
  target_user_id: string | null
  reason: string | null
  score: number | null
  created_ts: number
}

export interface HierarchySessionRow {
  token: string
  user_id: string
  room_id: string
  suggested_only: boolean
  max_depth: number
  queue: Array<[roomId: string, depth: number]>
  processed: string[]
  created_ts: number
}

/** Which rooms are listed at all: joined members, and a join rule or history a stranger can use. */
const LISTABLE = `s.joined_members > 0
  AND (s.join_rule IN ('public', 'knock', 'knock_restricted') OR s.history_visibility = 'world_readable')`

export class DirectoryRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** Sets some fields of a room's summary; true when the row did not exist before. */
  async setFields(roomId: string, fields: SummaryFields): Promise<boolean> {
    const columns = FIELD_COLUMNS.filter((c) => c in fields)
    const values = columns.map((c) => fields[c] ?? null)
    const names = ['room_id', ...columns].join(', ')
    const params = ['$1', ...columns.map((_, i) => `$${i + 2}`)].join(', ')
    const update = columns.length > 0 ? `DO UPDATE SET ${columns.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}` : 'DO UPDATE SET room_id = EXCLUDED.room_id'
    const { rows } = await this.db.query<{ inserted: boolean }>(
      `INSERT INTO room_summaries (${names}) VALUES (${params}) ON CONFLICT (room_id) ${update} RETURNING (xmax = 0) AS inserted`,
      [roomId, ...values],
    )
    return rows[0]?.inserted ?? false
  }

  /**
   * Counts a new member event into its room's joined and invited members: +1 for its membership, -1 for that
   * of the member event it replaced in the state. Constant time however large the room.
   */
  async countMemberEvent(roomId: string, eventId: string, membership: string): Promise<void> {
    await this.db.query(
      `UPDATE room_summaries s
          SET joined_members = s.joined_members + ($3::text = 'join')::int - (x.previous IS NOT DISTINCT FROM 'join')::int,
              invited_members = s.invited_members + ($3::text = 'invite')::int - (x.previous IS NOT DISTINCT FROM 'invite')::int
         FROM (SELECT (SELECT (p.json::jsonb) -> 'content' ->> 'membership' FROM events e
                         JOIN events p ON p.room_id = e.room_id AND p.event_id = e.replaces_state
                        WHERE e.room_id = $1 AND e.event_id = $2) AS previous) x
        WHERE s.room_id = $1`,
      [roomId, eventId, membership],
    )
  }

  /**
   * Joined and invited member counts of rooms from their summaries (constant time per room); a room without
   * a summary row is counted from its memberships.
   */
  async memberCounts(roomIds: string[]): Promise<Array<{ room_id: string; joined: number; invited: number }>> {
    if (roomIds.length === 0) return []
    const { rows } = await this.db.query<{ room_id: string; joined: number; invited: number }>(
      `SELECT r.room_id, COALESCE(s.joined_members, c.joined) AS joined, COALESCE(s.invited_members, c.invited) AS invited
         FROM unnest($1::text[]) AS r(room_id)
         LEFT JOIN room_summaries s ON s.room_id = r.room_id
         LEFT JOIN LATERAL (
           SELECT count(*) FILTER (WHERE m.membership = 'join')::int AS joined, count(*) FILTER (WHERE m.membership = 'invite')::int AS invited
             FROM room_memberships m WHERE s.room_id IS NULL AND m.room_id = r.room_id
         ) c ON true`,
      [roomIds],
    )
    return rows
  }

  /** Replaces whole summaries (fields and joined counts), in one statement. */
  async putSummaries(rows: RoomSummaryRow[]): Promise<void> {
    if (rows.length === 0) return
    const column = (c: keyof RoomSummaryRow) => rows.map((r) => r[c])
    await this.db.query(
      `INSERT INTO room_summaries (room_id, room_type, name, topic, canonical_alias, avatar_url, join_rule, history_visibility,
                                   guest_access, encryption, allowed_room_ids, joined_members, invited_members)
       SELECT u.room_id, u.room_type, u.name, u.topic, u.canonical_alias, u.avatar_url, u.join_rule, u.history_visibility,
              u.guest_access, u.encryption,
              CASE WHEN u.allowed IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(u.allowed)) END, u.joined_members,
              u.invited_members
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                     $10::text[], $11::jsonb[], $12::int[], $13::int[])
           AS u(room_id, room_type, name, topic, canonical_alias, avatar_url, join_rule, history_visibility, guest_access,
                encryption, allowed, joined_members, invited_members)
       ON CONFLICT (room_id) DO UPDATE SET room_type = EXCLUDED.room_type, name = EXCLUDED.name, topic = EXCLUDED.topic,
         canonical_alias = EXCLUDED.canonical_alias, avatar_url = EXCLUDED.avatar_url, join_rule = EXCLUDED.join_rule,
         history_visibility = EXCLUDED.history_visibility, guest_access = EXCLUDED.guest_access,
         encryption = EXCLUDED.encryption, allowed_room_ids = EXCLUDED.allowed_room_ids, joined_members = EXCLUDED.joined_members,
         invited_members = EXCLUDED.invited_members`,
      [
        column('room_id'),
        column('room_type'),
        column('name'),
        column('topic'),
        column('canonical_alias'),
        column('avatar_url'),
        column('join_rule'),
        column('history_visibility'),
        column('guest_access'),
        column('encryption'),
        rows.map((r) => (r.allowed_room_ids === null ? null : JSON.stringify(r.allowed_room_ids))),
        column('joined_members'),
        column('invited_members'),
      ],
    )
  }

  /** Summaries with each room's version (rooms without a summary are left out). */
  async summaries(roomIds: string[]): Promise<Array<RoomSummaryRow & { room_version: string }>> {
    if (roomIds.length === 0) return []
    const { rows } = await this.db.query<RoomSummaryRow & { room_version: string }>(
      `SELECT s.*, r.room_version FROM room_summaries s JOIN rooms r ON r.room_id = s.room_id WHERE s.room_id = ANY($1::text[])`,
      [roomIds],
    )
    return rows
  }

  /** One page of the published room directory, largest rooms first (in that order whichever the direction). */
  async publicRooms(q: PublicRoomsQuery): Promise<RoomSummaryRow[]> {
    const params: unknown[] = []
    const where = this.publicFilter(q, params)
    let order = 's.joined_members DESC, s.room_id ASC'
    if (q.after) {
      params.push(q.after.joined, q.after.roomId)
      const [j, r] = [`$${params.length - 1}`, `$${params.length}`]
      if (q.after.forward) where.push(`(s.joined_members < ${j} OR (s.joined_members = ${j} AND s.room_id > ${r}))`)
      else {
        where.push(`(s.joined_members > ${j} OR (s.joined_members = ${j} AND s.room_id < ${r}))`)
        order = 's.joined_members ASC, s.room_id DESC'
      }
    }
    params.push(q.limit)
    const { rows } = await this.db.query<RoomSummaryRow>(
      `SELECT s.* FROM rooms r JOIN room_summaries s ON s.room_id = r.room_id
        WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT $${params.length}`,
      params,
    )
    return q.after && !q.after.forward ? rows.reverse() : rows
  }

  /** How many published rooms match the filter (total_room_count_estimate). */
  async countPublicRooms(q: Omit<PublicRoomsQuery, 'limit' | 'after'>): Promise<number> {
    const params: unknown[] = []
    const where = this.publicFilter(q, params)
    const { rows } = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM rooms r JOIN room_summaries s ON s.room_id = r.room_id WHERE ${where.join(' AND ')}`,
      params,
    )
    return rows[0]?.n ?? 0
  }

  private publicFilter(q: Omit<PublicRoomsQuery, 'limit' | 'after'>, params: unknown[]): string[] {
    const where = ['r.is_public', LISTABLE]
    if (q.pattern !== undefined) {
      params.push(q.pattern)
      const p = `$${params.length}`
      where.push(`(s.name ILIKE ${p} OR s.topic ILIKE ${p} OR s.canonical_alias ILIKE ${p})`)
    }
    if (q.roomTypes !== undefined) {
      const named = q.roomTypes.filter((t): t is string => t !== null)
      params.push(named)
      where.push(`(s.room_type = ANY($${params.length}::text[])${q.roomTypes.includes(null) ? ' OR s.room_type IS NULL' : ''})`)
    }
    return where
  }

  /** Records that an upgrade's carry-over is done (room_upgrade_transfers); false when it was already. */
  async markUpgradeTransferred(oldRoomId: string, newRoomId: string, now: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      'INSERT INTO room_upgrade_transfers (old_room_id, new_room_id, transferred_ts) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [oldRoomId, newRoomId, now],
    )
    return rowCount === 1
  }

  /** Serializes read-modify-write transactions on one key (held until the transaction ends). */
  async lockKey(key: string): Promise<void> {
    await lockName(this.db, 'directory', key)
  }

  /** lockKey for several keys in one statement, taken in a fixed order (so two such transactions never deadlock). */
  async lockKeys(keys: string[]): Promise<void> {
    await lockNames(this.db, 'directory', keys)
  }

  async insertReport(r: ReportInsert): Promise<void> {
    await this.db.query(
      `INSERT INTO content_reports (reporter, kind, room_id, event_id, target_user_id, reason, score, created_ts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [r.reporter, r.kind, r.room_id, r.event_id, r.target_user_id, r.reason, r.score, r.created_ts],
    )
  }

  async reports(roomId: string): Promise<Array<ReportInsert & { id: number }>> {
    const { rows } = await this.db.query<ReportInsert & { id: number }>(
      'SELECT * FROM content_reports WHERE room_id = $1 ORDER BY created_ts, id',
      [roomId],
    )
    return rows.map((r) => ({ ...r, id: Number(r.id), created_ts: Number(r.created_ts) }))
  }

  /** The user's membership in each of the rooms (rooms without one are absent). */
  async membershipsIn(userId: string, roomIds: string[]): Promise<Map<string, string>> {
    if (roomIds.length === 0) return new Map()
    const { rows } = await this.db.query<{ room_id: string; membership: string }>(
      'SELECT room_id, membership FROM room_memberships WHERE user_id = $1 AND room_id = ANY($2::text[])',
      [userId, roomIds],
    )
    return new Map(rows.map((r) => [r.room_id, r.membership]))
  }

  /** Rooms both users are joined to after `after` (by room ID), at most `limit`, and how many there are in all. */
  async mutualRooms(userId: string, otherId: string, after: string | null, limit: number): Promise<{ roomIds: string[]; count: number }> {
    const { rows } = await this.db.query<{ room_id: string | null; total: number }>(
      `WITH mutual AS (
         SELECT a.room_id FROM room_memberships a
           JOIN room_memberships b ON b.room_id = a.room_id AND b.user_id = $2 AND b.membership = 'join'
          WHERE a.user_id = $1 AND a.membership = 'join'
       )
       SELECT p.room_id, (SELECT count(*) FROM mutual)::int AS total
         FROM (SELECT 1) one
         LEFT JOIN LATERAL (SELECT room_id FROM mutual WHERE room_id > COALESCE($3, '') ORDER BY room_id LIMIT $4) p ON true`,
      [userId, otherId, after, limit],
    )
    return { roomIds: rows.map((r) => r.room_id).filter((id): id is string => id !== null), count: rows[0]?.total ?? 0 }
  }

  /** Stores a hierarchy session and deletes those created before `expiredBefore`. */
  async putHierarchySession(s: HierarchySessionRow, expiredBefore: number): Promise<void> {
    await this.db.query('DELETE FROM hierarchy_sessions WHERE created_ts < $1', [expiredBefore])
    await this.db.query(
      `INSERT INTO hierarchy_sessions (token, user_id, room_id, suggested_only, max_depth, queue, processed, created_ts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [s.token, s.user_id, s.room_id, s.suggested_only, s.max_depth, JSON.stringify(s.queue), JSON.stringify(s.processed), s.created_ts],
    )
  }

  async hierarchySession(token: string): Promise<HierarchySessionRow | null> {
    const { rows } = await this.db.query<HierarchySessionRow>('SELECT * FROM hierarchy_sessions WHERE token = $1', [token])
    const row = rows[0]
    return row ? { ...row, created_ts: Number(row.created_ts) } : null
  }
}
