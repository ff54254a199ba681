// The content repository's rows: media (local uploads, pending asynchronous uploads, cached remote media),
// their thumbnails and cached URL previews.
import { lockName, type Queryable } from '../db.ts'

export interface MediaRow {
  server_name: string
  media_id: string
  user_id: string | null
  content_type: string | null
  upload_name: string | null
  size: number | null
  sha256: string | null
  created_ts: number
  expires_ts: number | null
  last_access_ts: number | null
  remote: boolean
  quarantined_by: string | null
  safe_from_quarantine: boolean
}

export interface ThumbnailRow {
  width: number
  height: number
  method: string
  animated: boolean
  content_type: string
  size: number
  sha256: string
}

export interface MediaContent {
  contentType: string
  uploadName: string | null
  size: number
  sha256: string
}

export type MediaOrder = 'media_id' | 'upload_name' | 'created_ts' | 'last_access_ts' | 'media_length' | 'media_type' | 'quarantined_by' | 'safe_from_quarantine'

const ORDER_COLUMNS: Record<MediaOrder, string> = {
  media_id: 'media_id',
  upload_name: 'upload_name',
  created_ts: 'created_ts',
  last_access_ts: 'last_access_ts',
  media_length: 'size',
  media_type: 'content_type',
  quarantined_by: 'quarantined_by',
  safe_from_quarantine: 'safe_from_quarantine',
}

const MEDIA_COLUMNS = `server_name, media_id, user_id, content_type, upload_name, size::float8 AS size, sha256, created_ts::float8 AS created_ts,
  expires_ts::float8 AS expires_ts, last_access_ts::float8 AS last_access_ts, remote, quarantined_by, safe_from_quarantine`

export class MediaRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** Serialises, per blob, recording a use of it against deleting it once unused (see Media.record). */
  async lockBlob(sha256: string): Promise<void> {
    await lockName(this.db, 'media_blob', sha256)
  }

  async insertLocal(serverName: string, mediaId: string, userId: string, content: MediaContent, now: number): Promise<void> {
    await this.db.query(
      `INSERT INTO media (server_name, media_id, user_id, content_type, upload_name, size, sha256, created_ts, last_access_ts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
      [serverName, mediaId, userId, content.contentType, content.uploadName, content.size, content.sha256, now],
    )
  }

  /** A cached copy of another server's media; false when one was cached first (by another instance). */
  async insertRemote(serverName: string, mediaId: string, content: MediaContent, now: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `INSERT INTO media (server_name, media_id, content_type, upload_name, size, sha256, created_ts, last_access_ts, remote)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7, true) ON CONFLICT DO NOTHING`,
      [serverName, mediaId, content.contentType, content.uploadName, content.size, content.sha256, now],
    )
    return rowCount === 1
  }

  async insertPending(serverName: string, mediaId: string, userId: string, now: number, expiresTs: number): Promise<void> {
    await this.db.query('INSERT INTO media (server_name, media_id, user_id, created_ts, expires_ts) VALUES ($1, $2, $3, $4, $5)', [
      serverName,
      mediaId,
      userId,
      now,
      expiresTs,
    ])
  }

  async countPending(userId: string, now: number): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM media WHERE user_id = $1 AND sha256 IS NULL AND expires_ts > $2',
      [userId, now],
    )
    return rows[0]?.n ?? 0
  }

  /** Fills a pending upload; false when it is not (or no longer) pending. */
  async completePending(serverName: string, mediaId: string, content: MediaContent, now: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE media SET content_type = $3, upload_name = $4, size = $5, sha256 = $6, created_ts = $7, last_access_ts = $7, expires_ts = NULL
       WHERE server_name = $1 AND media_id = $2 AND sha256 IS NULL`,
      [serverName, mediaId, content.contentType, content.uploadName, content.size, content.sha256, now],
    )
    return rowCount === 1
  }

  async get(serverName: string, mediaId: string): Promise<MediaRow | null> {
    const { rows } = await this.db.query<MediaRow>(`SELECT ${MEDIA_COLUMNS} FROM media WHERE server_name = $1 AND media_id = $2`, [serverName, mediaId])
    return rows[0] ?? null
  }

  async touch(serverName: string, mediaId: string, now: number): Promise<void> {
    await this.db.query('UPDATE media SET last_access_ts = $3 WHERE server_name = $1 AND media_id = $2', [serverName, mediaId, now])
  }

  async getThumbnail(serverName: string, mediaId: string, width: number, height: number, method: string, animated: boolean): Promise<ThumbnailRow | null> {
    const { rows } = await this.db.query<ThumbnailRow>(
      `SELECT width, height, method, animated, content_type, size::float8 AS size, sha256 FROM media_thumbnails
       WHERE server_name = $1 AND media_id = $2 AND width = $3 AND height = $4 AND method = $5 AND animated = $6`,
      [serverName, mediaId, width, height, method, animated],
    )
    return rows[0] ?? null
  }

  /** False when the same thumbnail was stored first by another request. */
  async insertThumbnail(serverName: string, mediaId: string, t: ThumbnailRow): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `INSERT INTO media_thumbnails (server_name, media_id, width, height, method, animated, content_type, size, sha256)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
      [serverName, mediaId, t.width, t.height, t.method, t.animated, t.content_type, t.size, t.sha256],
    )
    return rowCount === 1
  }

  /** Deletes media rows (thumbnails go with them) and returns the blobs they named. */
  async delete(serverName: string, mediaIds: string[]): Promise<{ deleted: string[]; blobs: string[] }> {
    if (mediaIds.length === 0) return { deleted: [], blobs: [] }
    const { rows: thumbs } = await this.db.query<{ sha256: string }>(
      'SELECT sha256 FROM media_thumbnails WHERE server_name = $1 AND media_id = ANY($2)',
      [serverName, mediaIds],
    )
    const { rows } = await this.db.query<{ media_id: string; sha256: string | null }>(
      'DELETE FROM media WHERE server_name = $1 AND media_id = ANY($2) RETURNING media_id, sha256',
      [serverName, mediaIds],
    )
    const blobs = new Set<string>(thumbs.map((t) => t.sha256))
    for (const r of rows) if (r.sha256) blobs.add(r.sha256)
    return { deleted: rows.map((r) => r.media_id), blobs: [...blobs] }
  }

  /** Of these blobs, the ones no media or thumbnail row names any more. */
  async unreferenced(sha256s: string[]): Promise<string[]> {
    if (sha256s.length === 0) return []
    const { rows } = await this.db.query<{ sha256: string }>(
      `SELECT s AS sha256 FROM unnest($1::text[]) AS s
       WHERE NOT EXISTS (SELECT 1 FROM media WHERE sha256 = s) AND NOT EXISTS (SELECT 1 FROM media_thumbnails WHERE sha256 = s)`,
      [sha256s],
    )
    return rows.map((r) => r.sha256)
  }

  async listByUser(userId: string, from: number, limit: number, orderBy: MediaOrder, direction: 'f' | 'b'): Promise<{ media: MediaRow[]; total: number }> {
    const column = ORDER_COLUMNS[orderBy]
    const dir = direction === 'b' ? 'DESC' : 'ASC'
    const { rows } = await this.db.query<MediaRow>(
      `SELECT ${MEDIA_COLUMNS} FROM media WHERE user_id = $1 AND remote = false ORDER BY ${column} ${dir} NULLS LAST, media_id ${dir} OFFSET $2 LIMIT $3`,
      [userId, from, limit],
    )
    const { rows: count } = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM media WHERE user_id = $1 AND remote = false', [userId])
    return { media: rows, total: count[0]?.n ?? 0 }
  }

  async mediaIdsOfUser(userId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ media_id: string }>('SELECT media_id FROM media WHERE user_id = $1 AND remote = false', [userId])
    return rows.map((r) => r.media_id)
  }

  /** Marks media quarantined (unless protected); returns how many rows changed. */
  async quarantine(refs: Array<{ serverName: string; mediaId: string }>, by: string | null): Promise<number> {
    if (refs.length === 0) return 0
    const { rowCount } = await this.db.query(
      `UPDATE media m SET quarantined_by = $3 FROM unnest($1::text[], $2::text[]) AS r(server_name, media_id)
       WHERE m.server_name = r.server_name AND m.media_id = r.media_id AND (m.safe_from_quarantine = false OR $3::text IS NULL)`,
      [refs.map((r) => r.serverName), refs.map((r) => r.mediaId), by],
    )
    return rowCount ?? 0
  }

  async quarantineUser(userId: string, by: string): Promise<number> {
    const { rowCount } = await this.db.query(
      'UPDATE media SET quarantined_by = $2 WHERE user_id = $1 AND remote = false AND safe_from_quarantine = false',
      [userId, by],
    )
    return rowCount ?? 0
  }

  async setProtected(serverName: string, mediaId: string, safe: boolean): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE media SET safe_from_quarantine = $3 WHERE server_name = $1 AND media_id = $2', [serverName, mediaId, safe])
    return rowCount === 1
  }

  /** Media (of one kind) last read before `before`, oldest first; protected media is kept. */
  async notAccessedSince(remote: boolean, before: number, limit: number, options: { sizeGt?: number } = {}): Promise<Array<{ server_name: string; media_id: string }>> {
    const { rows } = await this.db.query<{ server_name: string; media_id: string }>(
      `SELECT server_name, media_id FROM media
       WHERE remote = $1 AND sha256 IS NOT NULL AND last_access_ts < $2 AND safe_from_quarantine = false AND size > $4
       ORDER BY last_access_ts LIMIT $3`,
      [remote, before, limit, options.sizeGt ?? -1],
    )
    return rows
  }

  async deleteExpiredPending(now: number): Promise<number> {
    const { rowCount } = await this.db.query('DELETE FROM media WHERE sha256 IS NULL AND expires_ts <= $1', [now])
    return rowCount ?? 0
  }

  /** mxc:// URIs named by the room's messages and state (url, info.thumbnail_url, avatars). */
  async urisInRoom(roomId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ uri: string }>(
      `SELECT DISTINCT x AS uri FROM (
         SELECT (json::jsonb)->'content' AS c FROM events WHERE room_id = $1 AND rejected_reason IS NULL
       ) e, LATERAL (VALUES (c->>'url'), (c #>> '{info,thumbnail_url}'), (c->>'avatar_url')) AS v(x)
       WHERE x LIKE 'mxc://%'`,
      [roomId],
    )
    return rows.map((r) => r.uri)
  }

  async getPreview(url: string, now: number): Promise<Record<string, unknown> | null> {
    const { rows } = await this.db.query<{ og: Record<string, unknown> }>('SELECT og FROM media_url_previews WHERE url = $1 AND expires_ts > $2', [url, now])
    return rows[0]?.og ?? null
  }

  async putPreview(url: string, og: Record<string, unknown>, expiresTs: number): Promise<void> {
    await this.db.query(
      'INSERT INTO media_url_previews (url, og, expires_ts) VALUES ($1, $2, $3) ON CONFLICT (url) DO UPDATE SET og = $2, expires_ts = $3',
      [url, og, expiresTs],
    )
  }

  async deleteExpiredPreviews(now: number): Promise<void> {
    await this.db.query('DELETE FROM media_url_previews WHERE expires_ts <= $1', [now])
  }
}
