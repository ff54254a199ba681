// Third-party invites (client-server API and server-server API, "Third-party invites"): inviting by e-mail
// address through the identity server a client names, and exchanging the m.room.third_party_invite for an
// m.room.member invite once the identity server reports the address bound to a user (3pid/onbind), asks the
// inviter's server to (exchange_third_party_invite), or the invitee joins with the signed block themself.
import { canonicalJsonBytes } from '../protocol/canonical-json.ts'
import { thirdPartyInvitePublicKeys, verifyingKey } from '../protocol/auth/index.ts'
import { parsePdu, type JsonObject, type RoomEvent } from '../protocol/events/index.ts'
import { roomVersion } from '../protocol/room-versions.ts'
import type { IdentityServerAccess, IdentityServers } from '../identity/index.ts'
import { MatrixError, badJson, forbidden, invalidParam, notFound } from '../shared/errors.ts'
import { isUserId, parseUserId } from '../shared/ids.ts'
import type { Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'
import { actingAs, type Rooms } from './rooms.ts'
import type { EventTemplate, RoomWriter } from './writer.ts'

/** Largest signed block taken (an mxid, a token, a sender and a signature or two weigh a few hundred bytes). */
export const MAX_SIGNED_BYTES = 4096
/** Most invites one onbind notification may carry; each may cost a request to another server. */
export const MAX_ONBIND_INVITES = 20

/** A third-party identifier to invite, and the identity server (with the client's token there) that knows it. */
export interface ThirdPartyId extends IdentityServerAccess {
  medium: string
  address: string
}

/** The body of PUT /exchange_third_party_invite/{roomId}: a partial m.room.member invite. */
export interface ExchangeRequest {
  type: 'm.room.member'
  room_id: string
  sender: string
  state_key: string
  content: { membership: 'invite'; third_party_invite: { display_name?: string; signed: JsonObject } }
}

/** Asks another server to exchange a third-party invite (PUT exchange_third_party_invite); throws when it will not. */
export type ForwardExchange = (destination: string, request: ExchangeRequest) => Promise<void>

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * The signed block of a third-party invite as received (an onbind invite's `signed`, a join's
 * third_party_signed, an exchange's content): bounded, with a user ID as mxid and a token; M_BAD_JSON otherwise.
 */
export function parseSignedBlock(value: unknown, what: string): JsonObject & { mxid: string; token: string } {
  if (!isObject(value)) throw badJson(`${what} must be an object`)
  let size: number
  try {
    size = canonicalJsonBytes(value).length
  } catch {
    throw badJson(`${what} is not canonical JSON`)
  }
  if (size > MAX_SIGNED_BYTES) throw badJson(`${what} is larger than ${MAX_SIGNED_BYTES} bytes`)
  if (!isUserId(value.mxid)) throw badJson(`${what}.mxid must be a user ID`)
  if (typeof value.token !== 'string' || value.token.length === 0 || value.token.length > 255) throw badJson(`${what}.token must be a string of 1 to 255 characters`)
  if (!isObject(value.signatures)) throw badJson(`${what}.signatures must be an object`)
  return value as JsonObject & { mxid: string; token: string }
}

export class ThirdPartyInvites {
  private readonly storage: Storage
  private readonly writer: RoomWriter
  private readonly rooms: Rooms
  private readonly identity: IdentityServers
  private readonly serverName: string
  private readonly forward: ForwardExchange
  /** identity_server.third_party_invites: off, every entry point answers M_FORBIDDEN. */
  private readonly enabled: boolean
  /** Taken once per invite by e-mail, before the identity server is asked (the sender's message limit). */
  private readonly rateLimit: (userId: string) => Promise<void>

  constructor(deps: {
    storage: Storage
    writer: RoomWriter
    rooms: Rooms
    identity: IdentityServers
    serverName: string
    forward: ForwardExchange
    enabled: boolean
    rateLimit: (userId: string) => Promise<void>
  }) {
    this.storage = deps.storage
    this.writer = deps.writer
    this.rooms = deps.rooms
    this.identity = deps.identity
    this.serverName = deps.serverName
    this.forward = deps.forward
    this.enabled = deps.enabled
    this.rateLimit = deps.rateLimit
  }

  private requireEnabled(): void {
    if (!this.enabled) throw forbidden('Third-party invites are disabled on this server')
  }

  private isOurs(userId: string): boolean {
    return parseUserId(userId)?.serverName === this.serverName
  }

  /**
   * POST /rooms/{roomId}/invite with a 3PID: the user the identity server knows for it is invited; a 3PID bound
   * to nobody gets an invite stored on the identity server and an m.room.third_party_invite in the room.
   */
  async invite(requester: Requester, roomId: string, tpid: ThirdPartyId): Promise<void> {
    this.requireEnabled()
    // Nothing is asked of an identity server in the name of a room the requester may not invite to.
    await this.mayAppend(roomId, { type: 'm.room.third_party_invite', state_key: 'pending', sender: requester.userId, content: {} })
    await this.rateLimit(requester.userId)
    const mxid = await this.identity.lookup(tpid, tpid.medium, tpid.address)
    if (mxid) return this.rooms.invite(requester, roomId, mxid)
    const details = await this.storeInviteDetails(roomId, requester.userId)
    const stored = await this.identity.storeInvite(tpid, { medium: tpid.medium, address: tpid.address, room_id: roomId, sender: requester.userId, ...details })
    await this.rooms.sendState(requester, roomId, 'm.room.third_party_invite', stored.token, stored.content)
  }

  /** createRoom's invite_3pid, once the room exists: each in turn, the first failure the answer. */
  async inviteAll(requester: Requester, roomId: string, tpids: readonly ThirdPartyId[]): Promise<void> {
    for (const tpid of tpids) {
      try {
        await this.invite(requester, roomId, tpid)
      } catch (err) {
        if (err instanceof MatrixError) throw new MatrixError(err.errcode, `The room ${roomId} was created, but an invite failed: ${err.message}`, err.status)
        throw err
      }
    }
  }

  /**
   * PUT /3pid/onbind from an identity server: each pending invite of the now-bound user is exchanged for an
   * m.room.member invite. Every invite is tried; the last failure is the answer.
   */
  async onBind(invites: readonly unknown[]): Promise<void> {
    this.requireEnabled()
    if (invites.length > MAX_ONBIND_INVITES) throw invalidParam(`At most ${MAX_ONBIND_INVITES} invites are taken at once`)
    let failure: unknown = null
    for (const entry of invites) {
      try {
        if (!isObject(entry)) throw badJson('Each invite must be an object')
        const { sender, mxid, room_id: roomId } = entry
        if (!isUserId(sender) || !isUserId(mxid) || typeof roomId !== 'string' || !roomId.startsWith('!') || roomId.length > 255) {
          throw badJson('Each invite needs sender, mxid and room_id')
        }
        if (!this.isOurs(mxid)) throw invalidParam(`${mxid} is not a user of this server`)
        const signed = parseSignedBlock(entry.signed, 'signed')
        if (signed.mxid !== mxid) throw invalidParam('signed.mxid is not the invite\'s mxid')
        await this.exchange(sender, mxid, roomId, signed)
      } catch (err) {
        failure = err
      }
    }
    if (failure) throw failure
  }

  /** PUT /exchange_third_party_invite/{roomId} from the invitee's server: only for an inviter of this server. */
  async exchangeFor(origin: string, roomId: string, body: JsonObject): Promise<void> {
    this.requireEnabled()
    const content = body.content
    if (body.type !== 'm.room.member' || body.room_id !== roomId || !isObject(content) || content.membership !== 'invite') {
      throw badJson('The event must be an m.room.member invite in this room')
    }
    const { sender, state_key: target } = body
    if (!isUserId(sender) || !isUserId(target)) throw badJson('sender and state_key must be user IDs')
    if (parseUserId(target)?.serverName !== origin) throw forbidden('The invitee is not a user of the requesting server')
    if (!this.isOurs(sender)) throw forbidden('The inviter is not a user of this server')
    const thirdPartyInvite = content.third_party_invite
    const signed = parseSignedBlock(isObject(thirdPartyInvite) ? thirdPartyInvite.signed : undefined, 'content.third_party_invite.signed')
    await this.exchange(sender, target, roomId, signed)
  }

  /**
   * POST /join with third_party_signed: the invite the signed block proves is issued first (here or by the
   * inviter's server), then the user joins as any invitee does.
   */
  async join(requester: Requester, roomIdOrAlias: string, thirdPartySigned: unknown, reason?: string, via: readonly string[] = []): Promise<string> {
    this.requireEnabled()
    const signed = parseSignedBlock(thirdPartySigned, 'third_party_signed')
    if (!isUserId(signed.sender)) throw badJson('third_party_signed.sender must be a user ID')
    if (signed.mxid !== requester.userId) throw forbidden('third_party_signed is for another user')
    const { roomId, servers } = await this.rooms.resolveForJoin(roomIdOrAlias)
    await this.exchange(signed.sender, requester.userId, roomId, signed)
    return this.rooms.join(requester, roomId, reason, [...via, ...servers])
  }

  /**
   * Issues the m.room.member invite of `target` by `sender` that the signed block proves. In the room, this
   * server checks the block against the m.room.third_party_invite's keys and asks the identity server whether
   * the key that signed it is still valid (only the server issuing the invite does: others would disagree
   * whenever an identity server is unreachable), then writes the invite. Not in it, the inviter's server is
   * asked (then the room's, when its ID names one).
   */
  private async exchange(sender: string, target: string, roomId: string, signed: JsonObject & { token: string }): Promise<void> {
    if (!(await this.storage.repos.memberships.hasJoinedOfServer(roomId, this.serverName))) {
      if (this.isOurs(sender)) throw forbidden('This server is not in the room')
      return this.forwardExchange(sender, target, roomId, signed)
    }
    const [invite, current] = await Promise.all([this.currentInvite(roomId, signed.token), this.storage.repos.memberships.get(roomId, target)])
    if (!invite) throw forbidden('The room has no third-party invite with this token')
    // A member needs no invite (the auth rules would let one through, and it would undo their join).
    if (current?.membership === 'join') return
    const key = verifyingKey(signed, thirdPartyInvitePublicKeys(invite))
    if (typeof key === 'string') throw forbidden(key)
    if (!key) throw forbidden('The third-party invite is not signed by a key of the identity server that stored it')
    if (key.key_validity_url !== undefined && !(await this.identity.keyIsValid(key.key_validity_url, key.public_key))) {
      throw forbidden('The identity server does not confirm that the key signing the third-party invite is valid')
    }
    // Another server's user cannot be invited in the name of a third server's user: that server signs the
    // invite first (PUT /invite), and only takes invites from the inviter's server.
    if (!this.isOurs(sender) && !this.isOurs(target)) throw forbidden("Ask the inviter's server to exchange this invite")
    const displayName = typeof invite.content.display_name === 'string' ? invite.content.display_name : ''
    const content: JsonObject = { membership: 'invite', third_party_invite: { display_name: displayName, signed } }
    await this.rooms.invite(actingAs(sender), roomId, target, undefined, content)
  }

  private async forwardExchange(sender: string, target: string, roomId: string, signed: JsonObject): Promise<void> {
    const request: ExchangeRequest = { type: 'm.room.member', room_id: roomId, sender, state_key: target, content: { membership: 'invite', third_party_invite: { signed } } }
    const colon = roomId.indexOf(':')
    const destinations = new Set([parseUserId(sender)?.serverName, colon === -1 ? undefined : roomId.slice(colon + 1)])
    destinations.delete(this.serverName)
    destinations.delete(undefined)
    let failure: unknown = notFound('No server to ask about this room')
    for (const destination of destinations as Set<string>) {
      try {
        return await this.forward(destination, request)
      } catch (err) {
        failure = err
      }
    }
    throw failure
  }

  /** The room's current m.room.third_party_invite for a token, or null. */
  private async currentInvite(roomId: string, token: string): Promise<RoomEvent | null> {
    const repos = this.storage.repos
    const [room, [row]] = await Promise.all([repos.rooms.get(roomId), repos.state.currentEvents(roomId, [['m.room.third_party_invite', token]])])
    const version = room ? roomVersion(room.room_version) : undefined
    if (!row || !version) return null
    const parsed = parsePdu(JSON.parse(row.json), version, { eventId: row.event_id })
    return parsed.ok ? parsed.event : null
  }

  /** Refuses (M_FORBIDDEN, M_NOT_FOUND) what the auth rules would refuse of `template` in the room as it is. */
  private async mayAppend(roomId: string, template: EventTemplate): Promise<void> {
    await this.storage.transaction(async (repos) => {
      const room = await this.writer.open(repos, roomId, [template])
      this.writer.buildChecked(room, template)
    })
  }

  /** What store-invite may tell the identity server of the room and the inviter (it shows them in its e-mail). */
  private async storeInviteDetails(roomId: string, sender: string): Promise<Record<string, string>> {
    const repos = this.storage.repos
    const [rows, profile] = await Promise.all([
      repos.state.currentEvents(roomId, [['m.room.canonical_alias', ''], ['m.room.avatar', ''], ['m.room.join_rules', ''], ['m.room.name', ''], ['m.room.create', '']]),
      repos.profiles.get(sender),
    ])
    const details: Record<string, string> = {}
    const set = (key: string, value: unknown) => {
      if (typeof value === 'string' && value !== '') details[key] = value
    }
    for (const row of rows) {
      const content = (JSON.parse(row.json) as { content?: JsonObject }).content ?? {}
      if (row.type === 'm.room.canonical_alias') set('room_alias', content.alias)
      else if (row.type === 'm.room.avatar') set('room_avatar_url', content.url)
      else if (row.type === 'm.room.join_rules') set('room_join_rules', content.join_rule)
      else if (row.type === 'm.room.name') set('room_name', content.name)
      else if (row.type === 'm.room.create') set('room_type', content.type)
    }
    set('sender_display_name', profile?.displayname)
    set('sender_avatar_url', profile?.avatar_url)
    return details
  }
}
