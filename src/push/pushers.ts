// Pushers (client-server API, "Push Notifications": GET /pushers, POST /pushers/set), validated and bounded
// as Synapse does: kind "http" with data.url on the push gateway's notify path, null to delete; one pusher per
// (app_id, pushkey, user), taken from other users unless `append`; it belongs to the device that set it.
// With digest mails on (email.enable_notifs), kind "email" too: app_id "m.email", pushkey one of the user's
// validated addresses (PushSender mails it digests of missed messages).
import { canonicalEmail } from '../email/threepids.ts'
import { MatrixError } from '../shared/errors.ts'
import type { Clock } from '../shared/clock.ts'
import type { PusherRow, Storage } from '../storage/index.ts'
import { UNSUBSCRIBE_LINK_LIFETIME_MS, unsubscribeHash } from './sender.ts'

/** The path every HTTP pusher's URL must have (push gateway API). */
export const NOTIFY_PATH = '/_matrix/push/v1/notify'
/** The app_id of every e-mail pusher. */
export const EMAIL_APP_ID = 'm.email'

const MAX_APP_ID_CHARS = 64
const MAX_PUSHKEY_BYTES = 512
const MAX_TEXT_CHARS = 512
const MAX_URL_CHARS = 2048
const MAX_DATA_BYTES = 8192

/** A pusher as GET /pushers lists it. */
export interface PusherView {
  pushkey: string
  kind: string
  app_id: string
  app_display_name: string
  device_display_name: string
  profile_tag?: string
  lang: string
  data: Record<string, unknown>
}

const missing = (names: string[]) => new MatrixError('M_MISSING_PARAM', `Missing parameters: ${names.join(', ')}`, 400)
const invalid = (message: string) => new MatrixError('M_INVALID_PARAM', message, 400)

function text(body: Record<string, unknown>, key: string, max: number): string {
  const value = body[key]
  if (typeof value !== 'string') throw invalid(`${key} must be a string`)
  if (value.length > max) throw invalid(`${key} is longer than ${max} characters`)
  return value
}

/** data.url of an HTTP pusher: an http(s) URL whose path is the gateway's notify path (as Synapse checks). */
function checkUrl(url: unknown): void {
  if (url === undefined) throw invalid("'url' required in data for HTTP pusher")
  if (typeof url !== 'string' || url.length > MAX_URL_CHARS) throw invalid("'url' must be a string of at most 2048 characters")
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw invalid("'url' is not a valid URL")
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw invalid("'url' must be an http or https URL")
  if (parsed.username || parsed.password) throw invalid("'url' must not carry credentials")
  if (parsed.pathname !== NOTIFY_PATH) throw invalid(`'url' must have a path of '${NOTIFY_PATH}'`)
}

export class Pushers {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly maxPerUser: number
  private readonly email: boolean

  constructor(options: { storage: Storage; clock: Clock; maxPerUser: number; email?: boolean }) {
    this.storage = options.storage
    this.clock = options.clock
    this.maxPerUser = options.maxPerUser
    this.email = options.email ?? false
  }

  async list(userId: string): Promise<PusherView[]> {
    return (await this.storage.repos.pushers.list(userId)).map(viewOf)
  }

  /** The e-mail pusher (its address) an unsubscribe link's token was made for; null when it is not valid (any more). */
  async unsubscribeTarget(token: string): Promise<{ id: number; address: string } | null> {
    if (token.length === 0 || token.length > 128) return null
    const found = await this.storage.repos.pushers.unsubscribeTarget(unsubscribeHash(token), this.clock.now() - UNSUBSCRIBE_LINK_LIFETIME_MS)
    return found ? { id: found.id, address: found.pushkey } : null
  }

  /** The unsubscribe link confirmed: its e-mail pusher goes. Whether there was one. */
  async unsubscribe(token: string): Promise<boolean> {
    const target = await this.unsubscribeTarget(token)
    return target !== null && (await this.storage.repos.pushers.removeById(target.id))
  }

  /** POST /pushers/set for the requester's device. */
  async set(userId: string, deviceId: string, body: Record<string, unknown>): Promise<void> {
    const absent = ['kind', 'app_id', 'pushkey'].filter((k) => !(k in body))
    if (absent.length > 0) throw missing(absent)
    const appId = text(body, 'app_id', MAX_APP_ID_CHARS)
    const pushkey = text(body, 'pushkey', Number.MAX_SAFE_INTEGER)
    if (appId === '') throw invalid('app_id must not be empty')
    if (pushkey === '') throw invalid('pushkey must not be empty')
    if (Buffer.byteLength(pushkey) > MAX_PUSHKEY_BYTES) throw invalid(`pushkey is longer than ${MAX_PUSHKEY_BYTES} bytes`)
    if (body.kind === null) {
      await this.storage.repos.pushers.remove(userId, appId, pushkey)
      // An e-mail pusher is stored under the address as compared (lower case).
      if (appId === EMAIL_APP_ID) {
        let canonical: string | null = null
        try {
          canonical = canonicalEmail(pushkey)
        } catch {}
        if (canonical !== null && canonical !== pushkey) await this.storage.repos.pushers.remove(userId, appId, canonical)
      }
      return
    }
    const needed = ['app_display_name', 'device_display_name', 'lang', 'data'].filter((k) => body[k] === undefined || body[k] === null)
    if (needed.length > 0) throw missing(needed)
    const kind = body.kind
    if (kind !== 'http' && !(kind === 'email' && this.email)) {
      throw invalid(this.email ? 'Unknown pusher kind: only "http" and "email" pushers are supported' : 'Unknown pusher kind: only "http" pushers are supported')
    }
    const data = body.data
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw invalid('data must be an object')
    if (Buffer.byteLength(JSON.stringify(data)) > MAX_DATA_BYTES) throw invalid(`data is larger than ${MAX_DATA_BYTES} bytes`)
    let key = pushkey
    if (kind === 'http') {
      checkUrl((data as Record<string, unknown>).url)
    } else {
      if (appId !== EMAIL_APP_ID) throw invalid(`app_id must be "${EMAIL_APP_ID}" for an email pusher`)
      try {
        key = canonicalEmail(pushkey)
      } catch {
        throw invalid('pushkey must be an e-mail address for an email pusher')
      }
      if ((await this.storage.repos.threepids.ownerOf('email', key)) !== userId) {
        throw invalid('pushkey must be a validated e-mail address of this account (add it with /account/3pid/add first)')
      }
    }
    if (body.append !== undefined && typeof body.append !== 'boolean') throw invalid('append must be a boolean')
    const profileTag = body.profile_tag === undefined || body.profile_tag === null ? null : text(body, 'profile_tag', MAX_TEXT_CHARS)
    const row = {
      user_id: userId,
      device_id: deviceId,
      kind,
      app_id: appId,
      pushkey: key,
      app_display_name: text(body, 'app_display_name', MAX_TEXT_CHARS),
      device_display_name: text(body, 'device_display_name', MAX_TEXT_CHARS),
      profile_tag: profileTag,
      lang: text(body, 'lang', MAX_TEXT_CHARS),
      data: data as Record<string, unknown>,
      pushkey_ts: this.clock.now(),
    }
    await this.storage.transaction(async (repos) => {
      const count = await repos.pushers.lockUser(userId)
      if (count >= this.maxPerUser && !(await repos.pushers.exists(userId, appId, key))) {
        throw invalid(`A user may have at most ${this.maxPerUser} pushers`)
      }
      // The spec: without append, the same app_id and pushkey of any other user go (a phone changed hands).
      if (body.append !== true) await repos.pushers.removeForOthers(appId, key, userId)
      await repos.pushers.upsert(row)
    })
  }
}

function viewOf(row: PusherRow): PusherView {
  return {
    pushkey: row.pushkey,
    kind: row.kind,
    app_id: row.app_id,
    app_display_name: row.app_display_name,
    device_display_name: row.device_display_name,
    ...(row.profile_tag !== null ? { profile_tag: row.profile_tag } : {}),
    lang: row.lang,
    data: row.data,
  }
}
