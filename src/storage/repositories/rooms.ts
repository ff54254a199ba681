import type { Queryable } from '../db.ts'

export interface RoomRow {
  room_id: string
  room_version: string
  creator: string
  created_ts: number
  is_public: boolean
  state_group: number | null
}

export interface ExtremityRow {
  event_id: string
  depth: number
  json: string
}

export class RoomsRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** False when a room with this ID exists already (or is being created by a transaction that then commits). */
  async insert(row: Omit<RoomRow, 'state_group' | 'is_public'>): Promise<boolean> {
    const { rowCount } = await this.db.query(
      'INSERT INTO rooms (room_id, room_version, creator, created_ts) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [row.room_id, row.room_version, row.creator, row.created_ts],
    )
    return rowCount === 1
  }

  async get(roomId: string): Promise<RoomRow | null> {
    const { rows } = await this.db.query<RoomRow>('SELECT * FROM rooms WHERE room_id = $1', [roomId])
    return rows[0] ?? null
  }

  /** Locks the room row: every write to a room's DAG holds it, so a room's events are built one at a time. */
  async lock(roomId: string): Promise<RoomRow | null> {
    const { rows } = await this.db.query<RoomRow>('SELECT * FROM rooms WHERE room_id = $1 FOR UPDATE', [roomId])
    return rows[0] ?? null
  }

  async setStateGroup(roomId: string, group: number): Promise<void> {
    await this.db.query('UPDATE rooms SET state_group = $2 WHERE room_id = $1', [roomId, group])
  }

  async setPublic(roomId: string, isPublic: boolean): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE rooms SET is_public = $2 WHERE room_id = $1', [roomId, isPublic])
    return rowCount === 1
  }

  async extremities(roomId: string): Promise<ExtremityRow[]> {
    const { rows } = await this.db.query<ExtremityRow>(
      `SELECT e.event_id, e.depth, e.json FROM room_extremities x
         JOIN events e ON e.room_id = x.room_id AND e.event_id = x.event_id
        WHERE x.room_id = $1 ORDER BY e.depth DESC, e.stream_ordering DESC`,
      [roomId],
    )
    return rows
  }

  /** Replaces the extremities the new event references with the new event itself. */
  async advanceExtremities(roomId: string, replaced: string[], eventId: string): Promise<void> {
    await this.db.query('DELETE FROM room_extremities WHERE room_id = $1 AND event_id = ANY($2::text[])', [roomId, replaced])
    await this.db.query('INSERT INTO room_extremities (room_id, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [roomId, eventId])
  }
}
