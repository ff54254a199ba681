import type { Queryable } from '../db.ts'

export class AliasesRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** False when the alias is taken. */
  async insert(alias: string, roomId: string, creator: string, now: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      'INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [alias, roomId, creator, now],
    )
    return rowCount === 1
  }

  async resolve(alias: string): Promise<string | null> {
    const { rows } = await this.db.query<{ room_id: string }>('SELECT room_id FROM room_aliases WHERE alias = $1', [alias])
    return rows[0]?.room_id ?? null
  }

  /** The aliases of `aliases` that point to `roomId`, in one statement. */
  async pointingTo(aliases: string[], roomId: string): Promise<Set<string>> {
    if (aliases.length === 0) return new Set()
    const { rows } = await this.db.query<{ alias: string }>('SELECT alias FROM room_aliases WHERE alias = ANY($1::text[]) AND room_id = $2', [aliases, roomId])
    return new Set(rows.map((r) => r.alias))
  }

  async get(alias: string): Promise<{ room_id: string; creator: string } | null> {
    const { rows } = await this.db.query<{ room_id: string; creator: string }>('SELECT room_id, creator FROM room_aliases WHERE alias = $1', [alias])
    return rows[0] ?? null
  }

  async forRoom(roomId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ alias: string }>('SELECT alias FROM room_aliases WHERE room_id = $1 ORDER BY alias', [roomId])
    return rows.map((r) => r.alias)
  }

  /** Points every alias of one room at another (room upgrades); returns the aliases moved. */
  async moveRoom(fromRoomId: string, toRoomId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ alias: string }>('UPDATE room_aliases SET room_id = $2 WHERE room_id = $1 RETURNING alias', [
      fromRoomId,
      toRoomId,
    ])
    return rows.map((r) => r.alias)
  }

  async delete(alias: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM room_aliases WHERE alias = $1', [alias])
    return rowCount === 1
  }
}
