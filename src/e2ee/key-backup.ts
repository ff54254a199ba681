// Server-side key backups (client-server API, "Server-side key backups"): a user's backup versions and the
// encrypted room keys in them. The server never reads session_data or auth_data; it keeps versions apart per
// user, accepts writes only into the current version, and keeps the better copy of each session.
//
// Every write takes the user's backup lock first: it makes "is this the current version?" and the write one
// step (a version created or deleted meanwhile cannot slip in between), and it keeps the stored key count
// exact, since uploads count new sessions from what their statement saw.
import { MatrixError, invalidParam, notFound } from '../shared/errors.ts'
import type { BackupAuthData, BackedUpSession, BackupTally, BackupVersionRow, Repositories, Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'

export interface KeyBackupData {
  first_message_index: number
  forwarded_count: number
  is_verified: boolean
  session_data: BackupAuthData
}

export type RoomsKeyBackup = Record<string, { sessions: Record<string, KeyBackupData> }>

export interface BackupVersionInfo {
  algorithm: string
  auth_data: BackupAuthData
  count: number
  etag: string
  version: string
}

export interface BackupUpdateResult {
  etag: string
  count: number
}

const UNKNOWN_VERSION = 'Unknown backup version'

/** Versions are opaque strings to clients; ours are decimal numbers, so anything else names no backup. */
function versionNumber(version: string): number {
  if (!/^\d{1,15}$/.test(version)) throw notFound(UNKNOWN_VERSION)
  return Number(version)
}

const infoOf = (row: BackupVersionRow): BackupVersionInfo => ({
  algorithm: row.algorithm,
  auth_data: row.auth_data,
  count: row.key_count,
  etag: String(row.etag),
  version: String(row.version),
})

const tallyOf = (tally: BackupTally): BackupUpdateResult => ({ etag: String(tally.etag), count: tally.key_count })

// Copies only the four spec fields, so nothing else a client sent is stored or echoed.
const keyDataOf = (s: KeyBackupData): KeyBackupData => ({
  first_message_index: s.first_message_index,
  forwarded_count: s.forwarded_count,
  is_verified: s.is_verified,
  session_data: s.session_data,
})

export class KeyBackup {
  private readonly storage: Storage

  constructor(deps: { storage: Storage }) {
    this.storage = deps.storage
  }

  /** POST /room_keys/version: the new version becomes the current one, the only one keys can be added to. */
  async createVersion(requester: Requester, body: { algorithm: string; auth_data: BackupAuthData }): Promise<{ version: string }> {
    const version = await this.storage.transaction(async (repos) => {
      await repos.keyBackup.lockUser(requester.userId)
      return repos.keyBackup.createVersion(requester.userId, body.algorithm, body.auth_data)
    })
    return { version: String(version) }
  }

  /** GET /room_keys/version[/{version}]: without a version, the current one. */
  async getVersion(requester: Requester, version?: string): Promise<BackupVersionInfo> {
    const repo = this.storage.repos.keyBackup
    const row = version === undefined ? await repo.latest(requester.userId) : await repo.get(requester.userId, versionNumber(version))
    if (!row) throw notFound(version === undefined ? 'No current backup version' : UNKNOWN_VERSION)
    return infoOf(row)
  }

  /** PUT /room_keys/version/{version}: only auth_data changes; the algorithm must stay the same. */
  async updateVersion(
    requester: Requester,
    version: string,
    body: { algorithm: string; auth_data: BackupAuthData; version?: string },
  ): Promise<void> {
    if (body.version !== undefined && body.version !== version) throw invalidParam('Version in body does not match')
    const number = versionNumber(version)
    await this.storage.transaction(async (repos) => {
      await repos.keyBackup.lockUser(requester.userId)
      const row = await repos.keyBackup.get(requester.userId, number)
      if (!row) throw notFound(UNKNOWN_VERSION)
      if (row.algorithm !== body.algorithm) throw invalidParam('Algorithm does not match')
      await repos.keyBackup.updateAuthData(requester.userId, number, body.auth_data)
    })
  }

  /** DELETE /room_keys/version/{version}: the version and all its keys; again on a deleted version is fine. */
  async deleteVersion(requester: Requester, version: string): Promise<void> {
    const number = versionNumber(version)
    const existed = await this.storage.transaction(async (repos) => {
      await repos.keyBackup.lockUser(requester.userId)
      return repos.keyBackup.deleteVersion(requester.userId, number)
    })
    if (!existed) throw notFound(UNKNOWN_VERSION)
  }

  /**
   * PUT /room_keys/keys[/{roomId}[/{sessionId}]], all shapes brought to {roomId: {sessions}}. Only the current
   * version takes keys: an older one answers M_WRONG_ROOM_KEYS_VERSION naming the current version.
   */
  async putKeys(requester: Requester, version: string, rooms: RoomsKeyBackup): Promise<BackupUpdateResult> {
    const number = versionNumber(version)
    const sessions: BackedUpSession[] = []
    for (const [roomId, room] of Object.entries(rooms)) {
      for (const [sessionId, key] of Object.entries(room.sessions)) {
        sessions.push({ room_id: roomId, session_id: sessionId, ...keyDataOf(key) })
      }
    }
    return this.storage.transaction(async (repos) => {
      await repos.keyBackup.lockUser(requester.userId)
      const current = await repos.keyBackup.latest(requester.userId)
      if (current?.version !== number) {
        if (current && (await repos.keyBackup.get(requester.userId, number))) {
          throw new MatrixError('M_WRONG_ROOM_KEYS_VERSION', 'Wrong backup version.', 403, { current_version: String(current.version) })
        }
        throw notFound(UNKNOWN_VERSION)
      }
      if (sessions.length === 0) return tallyOf(current)
      return tallyOf(await repos.keyBackup.putSessions(requester.userId, number, sessions))
    })
  }

  /**
   * GET /room_keys/keys[/{roomId}[/{sessionId}]]: {rooms} for the whole backup and {sessions} for a room, empty
   * when nothing is stored (as the spec says); one session's key data, or M_NOT_FOUND when it is not backed up.
   */
  async getKeys(
    requester: Requester,
    version: string,
    roomId?: string,
    sessionId?: string,
  ): Promise<{ rooms: RoomsKeyBackup } | { sessions: Record<string, KeyBackupData> } | KeyBackupData> {
    const repo = this.storage.repos.keyBackup
    const number = versionNumber(version)
    if (!(await repo.get(requester.userId, number))) throw notFound(UNKNOWN_VERSION)
    const found = await repo.sessions(requester.userId, number, { roomId, sessionId })
    if (sessionId !== undefined) {
      if (!found[0]) throw notFound('Key not found')
      return keyDataOf(found[0])
    }
    const rooms: RoomsKeyBackup = {}
    for (const s of found) {
      const room = (rooms[s.room_id] ??= { sessions: {} })
      room.sessions[s.session_id] = keyDataOf(s)
    }
    return roomId === undefined ? { rooms } : (rooms[roomId] ?? { sessions: {} })
  }

  /** DELETE /room_keys/keys[/{roomId}[/{sessionId}]]: from any existing version, current or not. */
  async deleteKeys(requester: Requester, version: string, roomId?: string, sessionId?: string): Promise<BackupUpdateResult> {
    const number = versionNumber(version)
    const tally = await this.storage.transaction(async (repos) => {
      await repos.keyBackup.lockUser(requester.userId)
      return repos.keyBackup.deleteSessions(requester.userId, number, { roomId, sessionId })
    })
    if (!tally) throw notFound(UNKNOWN_VERSION)
    return tallyOf(tally)
  }

  /** Drops every backup version and key of the user, inside the caller's transaction (deactivation). */
  async deleteAllForUser(repos: Repositories, userId: string): Promise<void> {
    await repos.keyBackup.lockUser(userId)
    await repos.keyBackup.deleteAllForUser(userId)
  }
}
