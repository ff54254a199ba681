import { lockName, type Queryable } from '../db.ts'

export interface DeviceRow {
  user_id: string
  device_id: string
  display_name: string | null
  created_ts: number
  last_seen_ts: number | null
  last_seen_ip: string | null
  last_seen_user_agent: string | null
  dehydrated_data: string | null
}

export class DevicesRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /**
   * Creates the device, or keeps an existing one (a display name given again replaces the old one): 'created'
   * or 'kept'; null when the ID is the user's dehydrated device, which no login may take over.
   */
  async upsert(userId: string, deviceId: string, displayName: string | null, now: number): Promise<'created' | 'kept' | null> {
    // xmax is 0 on a row this statement inserted, the updating transaction's ID on one it updated.
    const { rows } = await this.db.query<{ created: boolean }>(
      `INSERT INTO devices (user_id, device_id, display_name, created_ts) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id, device_id) DO UPDATE SET display_name = COALESCE(EXCLUDED.display_name, devices.display_name)
       WHERE devices.dehydrated_data IS NULL
       RETURNING xmax = 0 AS created`,
      [userId, deviceId, displayName, now],
    )
    const row = rows[0]
    return row === undefined ? null : row.created ? 'created' : 'kept'
  }

  async get(userId: string, deviceId: string): Promise<DeviceRow | null> {
    const { rows } = await this.db.query<DeviceRow>('SELECT * FROM devices WHERE user_id = $1 AND device_id = $2', [userId, deviceId])
    return rows[0] ?? null
  }

  async list(userId: string): Promise<DeviceRow[]> {
    const { rows } = await this.db.query<DeviceRow>('SELECT * FROM devices WHERE user_id = $1 ORDER BY created_ts, device_id', [userId])
    return rows
  }

  async setDisplayName(userId: string, deviceId: string, displayName: string | null): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE devices SET display_name = $3 WHERE user_id = $1 AND device_id = $2', [
      userId,
      deviceId,
      displayName,
    ])
    return rowCount === 1
  }

  async touch(userId: string, deviceId: string, now: number, ip: string, userAgent: string | null): Promise<void> {
    await this.db.query(
      'UPDATE devices SET last_seen_ts = $3, last_seen_ip = $4, last_seen_user_agent = $5 WHERE user_id = $1 AND device_id = $2',
      [userId, deviceId, now, ip, userAgent],
    )
  }

  /** Deletes devices (their tokens go with them); returns the IDs that existed. */
  async delete(userId: string, deviceIds: string[]): Promise<string[]> {
    const { rows } = await this.db.query<{ device_id: string }>(
      'DELETE FROM devices WHERE user_id = $1 AND device_id = ANY($2::text[]) RETURNING device_id',
      [userId, deviceIds],
    )
    return rows.map((r) => r.device_id)
  }

  /** Deletes every device of the user but `keep`; returns the IDs deleted. */
  async deleteAllExcept(userId: string, keep: string | null): Promise<string[]> {
    const { rows } = await this.db.query<{ device_id: string }>(
      'DELETE FROM devices WHERE user_id = $1 AND ($2::text IS NULL OR device_id <> $2) RETURNING device_id',
      [userId, keep],
    )
    return rows.map((r) => r.device_id)
  }

  /** The user's dehydrated device (MSC3814), if any. */
  async dehydrated(userId: string): Promise<{ device_id: string; dehydrated_data: string } | null> {
    const { rows } = await this.db.query<{ device_id: string; dehydrated_data: string }>(
      'SELECT device_id, dehydrated_data FROM devices WHERE user_id = $1 AND dehydrated_data IS NOT NULL',
      [userId],
    )
    return rows[0] ?? null
  }

  /** Creates a dehydrated device; false when the device ID is already taken. */
  async createDehydrated(userId: string, deviceId: string, displayName: string | null, data: string, now: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `INSERT INTO devices (user_id, device_id, display_name, created_ts, dehydrated_data) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (user_id, device_id) DO NOTHING`,
      [userId, deviceId, displayName, now, data],
    )
    return rowCount === 1
  }

  /** Serializes changes to the user's dehydrated device (at most one may exist) until the transaction ends. */
  async lockDehydrated(userId: string): Promise<void> {
    await lockName(this.db, 'dehydrated', userId)
  }
}
