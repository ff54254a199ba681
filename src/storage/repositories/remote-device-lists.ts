import type { Queryable } from '../db.ts'

export interface RemoteDeviceListRow {
  user_id: string
  stream_id: number
  seen_ids: number[]
  stale: boolean
  updated_ts: number
}

export interface RemoteDeviceRow {
  device_id: string
  display_name: string | null
  keys_json: string | null
}

/** Owns `remote_device_lists`, `remote_devices` and `remote_cross_signing_keys` (migration 0031). */
export class RemoteDeviceListsRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /**
   * The user's list row, locked for the rest of the transaction; created first when there is none, as a
   * stale list (nothing was ever fetched whole) at stream_id 0.
   */
  async lockOrCreate(userId: string, now: number): Promise<RemoteDeviceListRow> {
    await this.db.query(
      `INSERT INTO remote_device_lists (user_id, stream_id, seen_ids, stale, updated_ts) VALUES ($1, 0, '{}', true, $2)
       ON CONFLICT (user_id) DO NOTHING`,
      [userId, now],
    )
    const { rows } = await this.db.query<RemoteDeviceListRow>('SELECT * FROM remote_device_lists WHERE user_id = $1 FOR UPDATE', [userId])
    return rows[0] as RemoteDeviceListRow
  }

  async get(userId: string): Promise<RemoteDeviceListRow | null> {
    const { rows } = await this.db.query<RemoteDeviceListRow>('SELECT * FROM remote_device_lists WHERE user_id = $1', [userId])
    return rows[0] ?? null
  }

  async update(row: RemoteDeviceListRow): Promise<void> {
    await this.db.query(
      'UPDATE remote_device_lists SET stream_id = $2, seen_ids = $3, stale = $4, updated_ts = $5 WHERE user_id = $1',
      [row.user_id, row.stream_id, row.seen_ids, row.stale, row.updated_ts],
    )
  }

  /** Adds or replaces one device; with `deleted`, removes it. */
  async setDevice(userId: string, deviceId: string, device: { displayName: string | null; keysJson: string | null } | 'deleted'): Promise<void> {
    if (device === 'deleted') {
      await this.db.query('DELETE FROM remote_devices WHERE user_id = $1 AND device_id = $2', [userId, deviceId])
      return
    }
    await this.db.query(
      `INSERT INTO remote_devices (user_id, device_id, display_name, keys_json) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id, device_id) DO UPDATE SET display_name = EXCLUDED.display_name, keys_json = EXCLUDED.keys_json`,
      [userId, deviceId, device.displayName, device.keysJson],
    )
  }

  /** Replaces all the user's devices with these (inside the caller's transaction). */
  async replaceDevices(userId: string, devices: RemoteDeviceRow[]): Promise<void> {
    await this.db.query('DELETE FROM remote_devices WHERE user_id = $1', [userId])
    if (devices.length === 0) return
    await this.db.query(
      `INSERT INTO remote_devices (user_id, device_id, display_name, keys_json)
       SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[])`,
      [userId, devices.map((d) => d.device_id), devices.map((d) => d.display_name), devices.map((d) => d.keys_json)],
    )
  }

  /** Of these users, those joined to a room `serverName` (this server) is in: whose device lists it follows. */
  async sharingWith(userIds: string[], serverName: string): Promise<Set<string>> {
    if (userIds.length === 0) return new Set()
    const { rows } = await this.db.query<{ user_id: string }>(
      `SELECT DISTINCT m.user_id FROM room_memberships m JOIN room_servers s ON s.room_id = m.room_id AND s.server_name = $2
        WHERE m.user_id = ANY($1::text[]) AND m.membership = 'join'`,
      [userIds, serverName],
    )
    return new Set(rows.map((r) => r.user_id))
  }

  /** Of these users, those whose kept list is current (fetched whole and no update missed since). */
  async current(userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set()
    const { rows } = await this.db.query<{ user_id: string }>('SELECT user_id FROM remote_device_lists WHERE user_id = ANY($1::text[]) AND NOT stale', [userIds])
    return new Set(rows.map((r) => r.user_id))
  }

  /**
   * Marks stale the lists of these users that no longer share a room with `serverName` (this server): no
   * update reaches it until a room is shared again, and then the list must be fetched whole.
   */
  async unfollow(userIds: string[], serverName: string): Promise<void> {
    if (userIds.length === 0) return
    await this.db.query(
      `UPDATE remote_device_lists l SET stale = true
        WHERE l.user_id = ANY($1::text[]) AND NOT l.stale
          AND NOT EXISTS (SELECT 1 FROM room_memberships o JOIN room_servers s ON s.room_id = o.room_id AND s.server_name = $2
                           WHERE o.user_id = l.user_id AND o.membership = 'join')`,
      [userIds, serverName],
    )
  }

  /** The room's joined members of other servers than `serverName` whose lists are kept and current. */
  async followedIn(roomId: string, serverName: string): Promise<string[]> {
    const { rows } = await this.db.query<{ user_id: string }>(
      `SELECT m.user_id FROM room_memberships m JOIN remote_device_lists l ON l.user_id = m.user_id AND NOT l.stale
        WHERE m.room_id = $1 AND m.membership = 'join' AND user_server_name(m.user_id) <> $2`,
      [roomId, serverName],
    )
    return rows.map((r) => r.user_id)
  }

  /** Whether `serverName` has a joined member in the room. */
  async inRoom(roomId: string, serverName: string): Promise<boolean> {
    const { rows } = await this.db.query('SELECT 1 FROM room_servers WHERE room_id = $1 AND server_name = $2 AND joined_count > 0', [roomId, serverName])
    return rows.length > 0
  }

  /** The devices of several users, in one query. */
  async devicesOf(userIds: string[]): Promise<Array<RemoteDeviceRow & { user_id: string }>> {
    if (userIds.length === 0) return []
    const { rows } = await this.db.query<RemoteDeviceRow & { user_id: string }>(
      'SELECT user_id, device_id, display_name, keys_json FROM remote_devices WHERE user_id = ANY($1::text[]) ORDER BY user_id, device_id',
      [userIds],
    )
    return rows
  }

  /** The master and self-signing keys of several users, in one query. */
  async crossSigningKeysOf(userIds: string[]): Promise<Array<{ user_id: string; key_type: string; key_json: string }>> {
    if (userIds.length === 0) return []
    const { rows } = await this.db.query<{ user_id: string; key_type: string; key_json: string }>(
      'SELECT user_id, key_type, key_json FROM remote_cross_signing_keys WHERE user_id = ANY($1::text[])',
      [userIds],
    )
    return rows
  }

  async devices(userId: string): Promise<RemoteDeviceRow[]> {
    const { rows } = await this.db.query<RemoteDeviceRow>(
      'SELECT device_id, display_name, keys_json FROM remote_devices WHERE user_id = $1 ORDER BY device_id',
      [userId],
    )
    return rows
  }

  /** Replaces the given cross-signing keys of a user (one statement). */
  async putCrossSigningKeys(userId: string, keys: Array<{ keyType: 'master' | 'self_signing'; keyJson: string }>): Promise<void> {
    if (keys.length === 0) return
    await this.db.query(
      `INSERT INTO remote_cross_signing_keys (user_id, key_type, key_json) SELECT $1, * FROM unnest($2::text[], $3::text[])
       ON CONFLICT (user_id, key_type) DO UPDATE SET key_json = EXCLUDED.key_json`,
      [userId, keys.map((k) => k.keyType), keys.map((k) => k.keyJson)],
    )
  }

  async crossSigningKeys(userId: string): Promise<Array<{ key_type: string; key_json: string }>> {
    const { rows } = await this.db.query<{ key_type: string; key_json: string }>(
      'SELECT key_type, key_json FROM remote_cross_signing_keys WHERE user_id = $1 ORDER BY key_type',
      [userId],
    )
    return rows
  }
}
