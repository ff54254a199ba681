// Server-side key backups: key_backup_versions and key_backup_sessions (migration 0011).
import { lockName, type Queryable } from '../db.ts'

/**
 * A version's auth_data and a session's session_data: objects in the spec; a string from clients written
 * against Synapse, which keeps either as given, is kept as given too.
 */
export type BackupAuthData = Record<string, unknown> | string

export interface BackupVersionRow {
  version: number
  algorithm: string
  auth_data: BackupAuthData
  etag: number
  key_count: number
}

export interface BackedUpSession {
  room_id: string
  session_id: string
  first_message_index: number
  forwarded_count: number
  is_verified: boolean
  session_data: BackupAuthData
}

/** Which keys of a version a read or delete covers: all of them, one room's, or one session's. */
export interface SessionScope {
  roomId?: string
  sessionId?: string
}

export interface BackupTally {
  etag: number
  key_count: number
}

const VERSION_COLUMNS = 'version, algorithm, auth_data, etag, key_count'

// One SQL text per scope (not `$3 IS NULL OR room_id = $3`), so a cached generic plan still looks one
// session up by the whole primary key instead of filtering a backup of tens of thousands of keys.
function scoped(scope: SessionScope): { where: string; params: string[] } {
  if (scope.roomId === undefined) return { where: '', params: [] }
  if (scope.sessionId === undefined) return { where: ' AND room_id = $3', params: [scope.roomId] }
  return { where: ' AND room_id = $3 AND session_id = $4', params: [scope.roomId, scope.sessionId] }
}

export class KeyBackupRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** Serializes a user's backup writes until the transaction ends (see KeyBackup for why). */
  async lockUser(userId: string): Promise<void> {
    await lockName(this.db, 'key_backup', userId)
  }

  /** A new version, numbered after every version the user ever had (deleted ones included). */
  async createVersion(userId: string, algorithm: string, authData: BackupAuthData): Promise<number> {
    const { rows } = await this.db.query<{ version: number }>(
      `INSERT INTO key_backup_versions (user_id, version, algorithm, auth_data)
       SELECT $1::text, COALESCE(MAX(version), 0) + 1, $2::text, $3::jsonb FROM key_backup_versions WHERE user_id = $1::text
       RETURNING version`,
      // Serialised here: pg would pass a string as raw text, which is not JSON.
      [userId, algorithm, JSON.stringify(authData)],
    )
    return rows[0]!.version
  }

  /** The current version: the newest one not deleted. */
  async latest(userId: string): Promise<BackupVersionRow | null> {
    const { rows } = await this.db.query<BackupVersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM key_backup_versions WHERE user_id = $1 AND NOT deleted ORDER BY version DESC LIMIT 1`,
      [userId],
    )
    return rows[0] ?? null
  }

  async get(userId: string, version: number): Promise<BackupVersionRow | null> {
    const { rows } = await this.db.query<BackupVersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM key_backup_versions WHERE user_id = $1 AND version = $2 AND NOT deleted`,
      [userId, version],
    )
    return rows[0] ?? null
  }

  async updateAuthData(userId: string, version: number, authData: BackupAuthData): Promise<void> {
    await this.db.query('UPDATE key_backup_versions SET auth_data = $3::jsonb WHERE user_id = $1 AND version = $2 AND NOT deleted', [
      userId,
      version,
      JSON.stringify(authData),
    ])
  }

  /**
   * Marks the version deleted and drops its keys. True when the version exists or existed (deleting a
   * deleted version again succeeds); false when the user never had it.
   */
  async deleteVersion(userId: string, version: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `WITH gone AS (DELETE FROM key_backup_sessions WHERE user_id = $1 AND version = $2)
       UPDATE key_backup_versions SET deleted = true, key_count = 0 WHERE user_id = $1 AND version = $2`,
      [userId, version],
    )
    return (rowCount ?? 0) > 0
  }

  /**
   * Stores sessions in one statement. An existing session is replaced only by a better one, decided in SQL
   * so it holds whatever else runs: verified beats unverified, then the lower first_message_index, then the
   * lower forwarded_count; a tie keeps the stored key. That order is exactly the row comparison of
   * (NOT is_verified, first_message_index, forwarded_count), lower being better. The version's etag moves
   * when any row was written and its key_count by the sessions that were new; the caller holds lockUser,
   * so `existed` (read from the statement's snapshot) is the truth when the insert runs.
   */
  async putSessions(userId: string, version: number, sessions: BackedUpSession[]): Promise<BackupTally> {
    const { rows } = await this.db.query<BackupTally>(
      `WITH input AS (
         SELECT * FROM jsonb_to_recordset($3::jsonb)
           AS i (room_id text, session_id text, first_message_index bigint, forwarded_count bigint, is_verified boolean, session_data jsonb)
       ), existed AS (
         SELECT count(*) AS n FROM input i
           JOIN key_backup_sessions s ON s.user_id = $1::text AND s.version = $2::bigint AND s.room_id = i.room_id AND s.session_id = i.session_id
       ), written AS (
         INSERT INTO key_backup_sessions AS s
           (user_id, version, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data)
         SELECT $1::text, $2::bigint, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data FROM input
         ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE
           SET first_message_index = EXCLUDED.first_message_index, forwarded_count = EXCLUDED.forwarded_count,
               is_verified = EXCLUDED.is_verified, session_data = EXCLUDED.session_data
           WHERE (NOT EXCLUDED.is_verified, EXCLUDED.first_message_index, EXCLUDED.forwarded_count)
               < (NOT s.is_verified, s.first_message_index, s.forwarded_count)
         RETURNING 1
       )
       UPDATE key_backup_versions v
          SET etag = v.etag + (SELECT CASE WHEN count(*) > 0 THEN 1 ELSE 0 END FROM written),
              key_count = v.key_count + (SELECT count(*) FROM input) - (SELECT n FROM existed)
        WHERE v.user_id = $1::text AND v.version = $2::bigint
       RETURNING v.etag, v.key_count`,
      // An array parameter would be sent as a PostgreSQL array: the JSON text is what jsonb_to_recordset reads.
      [userId, version, JSON.stringify(sessions)],
    )
    return rows[0]!
  }

  async sessions(userId: string, version: number, scope: SessionScope): Promise<BackedUpSession[]> {
    const { where, params } = scoped(scope)
    const { rows } = await this.db.query<BackedUpSession>(
      `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data
         FROM key_backup_sessions WHERE user_id = $1 AND version = $2${where}`,
      [userId, version, ...params],
    )
    return rows
  }

  /** Deletes the scope's sessions and returns the version's new tally; null when the version does not exist. */
  async deleteSessions(userId: string, version: number, scope: SessionScope): Promise<BackupTally | null> {
    const { where, params } = scoped(scope)
    const { rows } = await this.db.query<BackupTally>(
      `WITH gone AS (DELETE FROM key_backup_sessions WHERE user_id = $1 AND version = $2${where} RETURNING 1)
       UPDATE key_backup_versions v
          SET etag = v.etag + (SELECT CASE WHEN count(*) > 0 THEN 1 ELSE 0 END FROM gone),
              key_count = v.key_count - (SELECT count(*) FROM gone)
        WHERE v.user_id = $1 AND v.version = $2 AND NOT v.deleted
       RETURNING v.etag, v.key_count`,
      [userId, version, ...params],
    )
    return rows[0] ?? null
  }

  /** Every version and key of the user, gone for good (account deactivation). */
  async deleteAllForUser(userId: string): Promise<void> {
    await this.db.query('DELETE FROM key_backup_versions WHERE user_id = $1', [userId])
  }
}
