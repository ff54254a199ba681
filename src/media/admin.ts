// Media administration with Synapse's admin API semantics: quarantine (served as not found, kept), protect,
// delete, a user's media list and the media a room's events name.
import { notFound } from '../shared/errors.ts'
import { parseMxc } from '../shared/ids.ts'
import type { MediaOrder, MediaRow, Storage } from '../storage/index.ts'
import type { Media } from './media.ts'
import { deleteRefs } from './retention.ts'

export interface MediaInfo {
  media_id: string
  media_type: string | null
  media_length: number | null
  upload_name: string | null
  created_ts: number
  last_access_ts: number | null
  quarantined_by: string | null
  safe_from_quarantine: boolean
}

function info(row: MediaRow): MediaInfo {
  return {
    media_id: row.media_id,
    media_type: row.content_type,
    media_length: row.size,
    upload_name: row.upload_name,
    created_ts: row.created_ts,
    last_access_ts: row.last_access_ts,
    quarantined_by: row.quarantined_by,
    safe_from_quarantine: row.safe_from_quarantine,
  }
}

export class MediaAdmin {
  private readonly storage: Storage
  private readonly media: Media
  constructor(storage: Storage, media: Media) {
    this.storage = storage
    this.media = media
  }

  async get(serverName: string, mediaId: string): Promise<{ media_info: MediaInfo & { user_id: string | null; sha256: string | null } }> {
    const row = await this.storage.repos.media.get(serverName, mediaId)
    if (!row) throw notFound('Unknown media')
    return { media_info: { ...info(row), user_id: row.user_id, sha256: row.sha256 } }
  }

  async quarantine(serverName: string, mediaId: string, by: string | null): Promise<void> {
    await this.storage.repos.media.quarantine([{ serverName, mediaId }], by)
  }

  async quarantineRoom(roomId: string, by: string): Promise<number> {
    const refs = (await this.storage.repos.media.urisInRoom(roomId)).map(parseMxc).filter((r) => r !== null)
    return this.storage.repos.media.quarantine(refs, by)
  }

  async quarantineUser(userId: string, by: string): Promise<number> {
    return this.storage.repos.media.quarantineUser(userId, by)
  }

  async protect(mediaId: string, safe: boolean): Promise<void> {
    await this.storage.repos.media.setProtected(this.media.serverName, mediaId, safe)
  }

  async roomMedia(roomId: string): Promise<{ local: string[]; remote: string[] }> {
    const local: string[] = []
    const remote: string[] = []
    for (const uri of await this.storage.repos.media.urisInRoom(roomId)) {
      const ref = parseMxc(uri)
      if (!ref) continue
      ;(ref.serverName === this.media.serverName ? local : remote).push(uri)
    }
    return { local, remote }
  }

  async delete(serverName: string, mediaId: string): Promise<{ deleted_media: string[]; total: number }> {
    if (serverName !== this.media.serverName) throw notFound('Only local media can be deleted; use purge_media_cache for remote media')
    const row = await this.storage.repos.media.get(serverName, mediaId)
    if (!row) throw notFound('Unknown media')
    const deleted = await this.media.deleteMedia(serverName, [mediaId])
    return { deleted_media: deleted, total: deleted.length }
  }

  /** POST /media/delete: local media last read before `beforeTs`, larger than `sizeGt`. */
  async deleteOlderThan(beforeTs: number, sizeGt: number): Promise<{ deleted_media: string[]; total: number }> {
    const refs = await this.storage.repos.media.notAccessedSince(false, beforeTs, 10_000, { sizeGt })
    const deleted = await this.media.deleteMedia(this.media.serverName, refs.map((r) => r.media_id))
    return { deleted_media: deleted, total: deleted.length }
  }

  async purgeRemoteCache(beforeTs: number): Promise<{ deleted: number }> {
    const refs = await this.storage.repos.media.notAccessedSince(true, beforeTs, 10_000)
    return { deleted: await deleteRefs(this.media, refs) }
  }

  async listUser(userId: string, from: number, limit: number, orderBy: MediaOrder, dir: 'f' | 'b'): Promise<{ media: MediaInfo[]; total: number; next_token?: number }> {
    const { media, total } = await this.storage.repos.media.listByUser(userId, from, limit, orderBy, dir)
    const out: { media: MediaInfo[]; total: number; next_token?: number } = { media: media.map(info), total }
    if (from + media.length < total) out.next_token = from + media.length
    return out
  }

  async deleteUser(userId: string): Promise<{ deleted_media: string[]; total: number }> {
    const ids = await this.storage.repos.media.mediaIdsOfUser(userId)
    const deleted = await this.media.deleteMedia(this.media.serverName, ids)
    return { deleted_media: deleted, total: deleted.length }
  }
}
