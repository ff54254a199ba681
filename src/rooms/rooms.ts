// Writing to rooms on behalf of local users: create, send, state, redact and membership changes.
// Each operation is one stream transaction through the RoomWriter.
import { isDeepStrictEqual } from 'node:util'
import { canonicalJson } from '../protocol/canonical-json.ts'
import { userPowerLevel, redactLevel } from '../protocol/auth/index.ts'
import { redact as redactPdu } from '../protocol/events/index.ts'
import { stateKey, type JsonObject, type Pdu, type RoomEvent } from '../protocol/events/types.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, forbidden, invalidParam, notFound } from '../shared/errors.ts'
import { isRoomId, isUserId, parseUserId } from '../shared/ids.ts'
import { ROOM_WRITE_STATE_CHANGED, type EventRow, type Repositories, type Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'
import type { RoomVersion } from '../protocol/room-versions.ts'
import { refuseBlockedInvite, usersBlockingInvites } from '../directory/ignored.ts'
import { aliasServer } from '../directory/aliases.ts'
import { planRoom, type CreateRoomRequest } from './create.ts'
import { STRIPPED_STATE_TYPES } from './client-events.ts'
import { joinCandidates, type RemoteJoins } from '../federation/remote-join.ts'
import { currentStateValue } from './visibility.ts'
import { newRoomState, parseStored, type EventTemplate, type KeptClaim, type RoomWriteState, type RoomWriter } from './writer.ts'

/** How an invite of another server's user goes out (src/federation/invites.ts) and comes back into the room. */
export interface RemoteInvites {
  send(destination: string, version: RoomVersion, event: RoomEvent, strippedState: JsonObject[]): Promise<RoomEvent>
  append(event: RoomEvent): Promise<void>
}

export interface SendOptions {
  /** Work that must commit with the send, run first in its transaction (e.g. taking a rate limit). */
  guard?: (repos: Repositories) => Promise<void>
}

export class Rooms {
  private readonly storage: Storage
  private readonly writer: RoomWriter
  private readonly clock: Clock
  private readonly serverName: string
  /** rooms.default_room_version: the version of a room created without a room_version. */
  private readonly defaultRoomVersion: string
  /** The tail of each room's queue of this instance's sends (oneAtATime). */
  private readonly sending = new Map<string, Promise<void>>()

  /** Joins through other servers (none: rooms this server is not in cannot be joined). */
  private readonly remoteJoins: RemoteJoins | null
  /** Invites of other servers' users: their server's signature, then the co-signed event appended. */
  private readonly remoteInvites: RemoteInvites | null
  /** Resolves an alias of any server (the directory, asking the alias's server over federation). */
  private readonly aliases: ((alias: string) => Promise<{ room_id: string; servers: string[] }>) | null

  constructor(deps: {
    storage: Storage
    writer: RoomWriter
    clock: Clock
    serverName: string
    defaultRoomVersion: string
    remoteJoins?: RemoteJoins
    aliases?: (alias: string) => Promise<{ room_id: string; servers: string[] }>
    remoteInvites?: RemoteInvites
  }) {
    this.storage = deps.storage
    this.writer = deps.writer
    this.clock = deps.clock
    this.serverName = deps.serverName
    this.defaultRoomVersion = deps.defaultRoomVersion
    this.remoteJoins = deps.remoteJoins ?? null
    this.aliases = deps.aliases ?? null
    this.remoteInvites = deps.remoteInvites ?? null
  }

  /** The displayname and avatar_url a local user's membership events carry. */
  private async memberProfile(repos: Repositories, userId: string): Promise<JsonObject> {
    return memberContentOf((await repos.profiles.get(userId)) ?? {})
  }

  /** Creates a room in one transaction; `options.guard` runs first in it (a rate limit), as for send. */
  async createRoom(requester: Requester, request: CreateRoomRequest, options: SendOptions = {}): Promise<string> {
    for (const invitee of request.invite ?? []) {
      if (parseUserId(invitee)?.serverName === this.serverName && !(await this.storage.repos.users.exists(invitee))) {
        throw notFound(`Unknown user ${invitee}`)
      }
    }
    const created = await this.storage.streamTransaction(async (repos) => {
      await options.guard?.(repos)
      // Users who block invites are left out; the room is created for the others (client-server API, "Invite permission").
      const blocked = await usersBlockingInvites(repos, request.invite ?? [])
      const invite = request.invite?.filter((u) => !blocked.has(u))
      const localInvitees = (invite ?? []).filter((u) => parseUserId(u)?.serverName === this.serverName)
      const profiles = await repos.profiles.getMany([requester.userId, ...localInvitees])
      const memberContent = (userId: string) => memberContentOf(profiles.get(userId) ?? {})
      const plan = planRoom({ ...request, invite }, requester.userId, this.serverName, memberContent, this.defaultRoomVersion)
      const room = newRoomState(plan.roomId ?? '', plan.version)
      for (const template of plan.templates) {
        try {
          await this.writer.append(repos, room, template)
        } catch (err) {
          // createRoom answers 400 M_INVALID_ROOM_STATE when the request implies events the auth rules refuse.
          if (err instanceof MatrixError && err.errcode === 'M_FORBIDDEN') throw new MatrixError('M_INVALID_ROOM_STATE', `Invalid initial state: ${err.message}`)
          throw err
        }
      }
      if (plan.alias) {
        if (!(await repos.aliases.insert(plan.alias, room.roomId, requester.userId, this.clock.now()))) {
          throw new MatrixError('M_ROOM_IN_USE', `The alias ${plan.alias} is already in use`)
        }
      }
      if (plan.isPublic) await repos.rooms.setPublic(room.roomId, true)
      return { roomId: room.roomId, remoteInvites: plan.remoteInvites }
    })
    // Other servers' users are invited once the room exists: their servers sign the invites. Each is tried;
    // the first refusal is the answer (the room exists, as its ID in the error says).
    let failure: unknown = null
    for (const { userId, content } of created.remoteInvites) {
      try {
        await this.invite(requester, created.roomId, userId, undefined, content)
      } catch (err) {
        failure ??= err
      }
    }
    if (failure instanceof MatrixError) throw new MatrixError(failure.errcode, `The room ${created.roomId} was created, but an invite failed: ${failure.message}`, failure.status)
    if (failure) throw failure
    return created.roomId
  }

  /**
   * PUT /rooms/{roomId}/send/{eventType}/{txnId}: the same txnId from the same device always yields the same
   * event. `options.guard` runs first inside the send's transaction (a rate limit: RateLimiter.takeIn), so a
   * refusal rolls the send back and costs no round trip of its own.
   */
  async send(requester: Requester, roomId: string, type: string, content: JsonObject, txnId: string, options: SendOptions = {}): Promise<string> {
    // No lookup first: the append records the txnId in the same statement and reports a repeat, so a
    // first send (nearly every send) costs one round trip less; a repeat is answered below.
    try {
      // This instance's sends to one room go one after another (they would wait for the room's lock anyway),
      // so each finds what the one before kept of the room and needs no reads: one round trip.
      return await this.oneAtATime(roomId, async () => {
        const written: { room: RoomWriteState | null } = { room: null }
        const template: EventTemplate = { type, sender: requester.userId, content }
        if (type === 'm.room.redaction') {
          if (typeof content.redacts !== 'string') throw new MatrixError('M_BAD_JSON', 'A redaction needs "redacts"')
          // Room versions before 11 read redacts at the top level, 11+ in content: send both.
          template.redacts = content.redacts
        }
        const attempt = (kept: KeptClaim | null) =>
          this.storage.streamTransaction(
            async (repos) => {
              await options.guard?.(repos)
              let original: EventRow | null = null
              const room = await this.writer.open(repos, roomId, [template], { kept })
              written.room = room
              if (template.redacts !== undefined) {
                original = await repos.events.get(roomId, template.redacts)
                if (original === null && (await repos.events.getByIds([template.redacts])).length > 0) {
                  throw new MatrixError('M_INVALID_PARAM', 'The event to redact is in another room', 400)
                }
                this.checkRedaction(room, requester.userId, original)
              }
              const txn = { userId: requester.userId, deviceId: requester.deviceId, txnId, now: this.clock.now() }
              // A transaction ID this device used before fails the append (answered below).
              const { event } = await this.writer.append(repos, room, template, { txn })
              if (original && !original.redacted_by) {
                const redacted = redactPdu(JSON.parse(original.json) as Pdu, room.version)
                await repos.events.redact(roomId, original.event_id, event.event_id, JSON.stringify(redacted))
              }
              return event.event_id
            },
            // What was kept of the room is checked with BEGIN, while the event is built.
            { lockRoom: roomId, expectRoom: kept?.expect ?? null },
          )
        const kept = this.writer.claimKept(roomId, template)
        let eventId: string
        try {
          eventId = await attempt(kept)
        } catch (err) {
          // What failed a send built on a kept room because of it (the check, or a refusal decided on what
          // was kept) is only believed when the room is read afresh.
          const fromKept = err instanceof MatrixError || (err as { code?: unknown }).code === ROOM_WRITE_STATE_CHANGED
          if (!kept || !fromKept) throw err
          this.writer.forget(roomId)
          eventId = await attempt(null)
        }
        if (written.room) await this.writer.remember(written.room)
        return eventId
      })
    } catch (err) {
      // A repeated txnId gets the first event's ID, even when sending now would be refused (the user may
      // have left the room since).
      const known = await this.storage.repos.events.findTxn(roomId, requester.userId, requester.deviceId, txnId)
      if (known) return known
      throw err
    }
  }

  /** Runs fn after every earlier call for the same room has finished (this instance's sends to a room, in order). */
  private oneAtATime<T>(roomId: string, fn: () => Promise<T>): Promise<T> {
    const before = this.sending.get(roomId)
    const run = before ? before.then(fn) : fn()
    const done: Promise<void> = run.then(
      () => {},
      () => {},
    )
    this.sending.set(roomId, done)
    void done.then(() => {
      if (this.sending.get(roomId) === done) this.sending.delete(roomId)
    })
    return run
  }

  /** PUT /rooms/{roomId}/redact/{eventId}/{txnId}. */
  redact(requester: Requester, roomId: string, eventId: string, reason: string | undefined, txnId: string, options: SendOptions = {}): Promise<string> {
    const content: JsonObject = { redacts: eventId }
    if (reason !== undefined) content.reason = reason
    return this.send(requester, roomId, 'm.room.redaction', content, txnId, options)
  }

  /** Handling redactions: the sender may redact their own events, or any event with the redact level. */
  private checkRedaction(room: RoomWriteState, sender: string, original: EventRow | null): void {
    if (!original || original.sender === sender) return
    const levels = room.state.get(stateKey('m.room.power_levels', ''))?.content
    if (!(userPowerLevel(sender, room.state, room.version) >= redactLevel(levels, room.version))) {
      throw forbidden('You may only redact your own events')
    }
  }

  /**
   * PUT /rooms/{roomId}/state/{type}/{stateKey}; identical content to the current state returns the current
   * event. `options.guard` runs first in the transaction, as for send.
   */
  async sendState(requester: Requester, roomId: string, type: string, key: string, content: JsonObject, options: SendOptions = {}): Promise<string> {
    if (type === 'm.room.member') {
      if (!isUserId(key)) throw invalidParam('The state key of m.room.member must be a user ID')
      return this.changeMembership(requester, roomId, key, content, options)
    }
    return this.storage.streamTransaction(async (repos) => {
      await options.guard?.(repos)
      const template: EventTemplate = { type, state_key: key, sender: requester.userId, content }
      const room = await this.writer.open(repos, roomId, [template])
      const [current] = await repos.state.currentEvents(roomId, [[type, key]])
      const existing = current ? parseStored(current.json, room.version) : null
      if (existing && existing.sender === requester.userId && canonicalJson(existing.content) === canonicalJson(content)) return existing.event_id
      if (type === 'm.room.canonical_alias' && key === '') await this.checkCanonicalAliases(repos, roomId, content, existing?.content ?? {})
      const { event } = await this.writer.append(repos, room, template)
      return event.event_id
    }, { lockRoom: roomId })
  }

  /**
   * m.room.canonical_alias (client-server API, "Room aliases"): each alias it names anew (`alias`,
   * `alt_aliases`) must be an alias, and one of this server must point to this room (400 M_BAD_ALIAS), as
   * Synapse checks; aliases the current event already names are not checked again (one deleted since may
   * stay). Other servers' aliases are only checked for form.
   */
  private async checkCanonicalAliases(repos: Repositories, roomId: string, content: JsonObject, before: JsonObject): Promise<void> {
    const named = (c: JsonObject): unknown[] => [...(c.alias !== undefined && c.alias !== null ? [c.alias] : []), ...(Array.isArray(c.alt_aliases) ? c.alt_aliases : [])]
    if (content.alt_aliases !== undefined && !Array.isArray(content.alt_aliases)) throw invalidParam('alt_aliases must be a list of aliases')
    const known = new Set(named(before))
    const fresh = named(content).filter((a) => !known.has(a))
    if (fresh.length > MAX_CANONICAL_ALIASES) throw invalidParam(`At most ${MAX_CANONICAL_ALIASES} new aliases at once`)
    const ours: string[] = []
    for (const alias of fresh) {
      const server = typeof alias === 'string' ? aliasServer(alias) : null
      if (server === null) throw invalidParam(`Not a room alias: ${String(alias).slice(0, 100)}`)
      if (server === this.serverName) ours.push(alias as string)
    }
    // One lookup for all of them, not one per alias.
    const pointing = await repos.aliases.pointingTo(ours, roomId)
    const stray = ours.find((a) => !pointing.has(a))
    if (stray !== undefined) throw new MatrixError('M_BAD_ALIAS', `${stray} does not point to this room`, 400)
  }

  /**
   * Appends one membership event for `target`. Joins, invites and knocks of local users carry the target's
   * displayname and avatar_url unless the request set them (as in Synapse): an invitee's client shows who
   * invited whom, and the invitee's own invite is named in its room list.
   */
  private changeMembership(requester: Requester, roomId: string, target: string, content: JsonObject, options: SendOptions = {}): Promise<string> {
    return this.storage.streamTransaction(async (repos) => {
      await options.guard?.(repos)
      const full: JsonObject = { ...content }
      if (PROFILED_MEMBERSHIPS.has(full.membership as string) && parseUserId(target)?.serverName === this.serverName) {
        const profile = await this.memberProfile(repos, target)
        for (const [k, v] of Object.entries(profile)) if (!(k in full)) full[k] = v
      }
      const template: EventTemplate = { type: 'm.room.member', state_key: target, sender: requester.userId, content: full }
      if (ENTERING.has(full.membership as string)) await refuseBlockedRoom(repos, roomId)
      const room = await this.writer.open(repos, roomId, [template])
      // Read under the room's write lock: a change of m.room.guest_access cannot pass the guest's join.
      if (requester.isGuest) await refuseGuestMembership(repos, roomId, requester.userId, target, full.membership)
      // A second join with the same content is the join already there, as in Synapse.
      const current = room.state.get(stateKey('m.room.member', target))
      if (full.membership === 'join' && current && current.sender === requester.userId && isDeepStrictEqual(current.content, full)) return current.event_id
      const { event } = await this.writer.append(repos, room, template)
      // After the auth rules (their refusal comes first); the append then rolls back.
      if (full.membership === 'invite' && parseUserId(target)?.serverName === this.serverName) await refuseBlockedInvite(repos, target)
      return event.event_id
    }, { lockRoom: roomId })
  }

  /**
   * Writes to several rooms in one stream transaction, for operations that must commit together (a room
   * upgrade creates one room and tombstones another). `create` builds a new room from templates, the first
   * being its m.room.create (pre-v12 rooms take `roomId`); `append` adds one event to an existing room and
   * refuses it with M_FORBIDDEN, before anything is written, when the auth rules do.
   */
  writeRooms<T>(fn: (batch: RoomBatch) => Promise<T>): Promise<T> {
    return this.storage.streamTransaction((repos) =>
      fn({
        repos,
        create: async (version, templates, roomId) => {
          const room = newRoomState(version.roomIdFromCreateEvent ? '' : roomId, version)
          const eventIds: string[] = []
          for (const template of templates) eventIds.push((await this.writer.append(repos, room, template)).event.event_id)
          return { roomId: room.roomId, eventIds }
        },
        append: async (roomId, template) => {
          const room = await this.writer.open(repos, roomId, [template])
          return (await this.writer.append(repos, room, template)).event.event_id
        },
      }),
    )
  }

  /**
   * Sends a fresh join event carrying the user's current displayname and avatar_url to every room they are
   * joined to (client-server API, "Events on Change of Profile Information"). One room failing does not stop
   * the others; a few rooms are written at a time.
   */
  async propagateProfile(userId: string, onError: (roomId: string, err: unknown) => void): Promise<void> {
    const rooms = (await this.storage.repos.memberships.roomsOf(userId, ['join'])).map((m) => m.room_id)
    const requester = actingAs(userId)
    const queue = [...rooms]
    const worker = async () => {
      for (let roomId = queue.shift(); roomId !== undefined; roomId = queue.shift()) {
        try {
          await this.changeMembership(requester, roomId, userId, { membership: 'join' })
        } catch (err) {
          onError(roomId, err)
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(4, rooms.length) }, worker))
  }

  /** Resolves a room ID or alias to a room this server has. */
  async resolveRoom(roomIdOrAlias: string): Promise<string> {
    if (roomIdOrAlias.startsWith('#')) {
      const roomId = await this.storage.repos.aliases.resolve(roomIdOrAlias)
      if (!roomId) throw notFound(`Room alias ${roomIdOrAlias} not found`)
      return roomId
    }
    if (!isRoomId(roomIdOrAlias)) throw invalidParam(`${roomIdOrAlias} is not a room ID or alias`)
    return roomIdOrAlias
  }

  /**
   * Joins a room: here when this server is in it (one of its users is joined, or no other server can be
   * asked), else through another server (RemoteJoins: make_join/send_join), trying `via`, the servers an
   * alias resolved to, the room ID's server and whoever invited the user.
   */
  /**
   * POST /join: `extra` is the rest of the request body, kept in the member event as Synapse keeps it (a
   * per-room displayname, a client's own keys); the keys the server decides are not taken from it.
   */
  async join(requester: Requester, roomIdOrAlias: string, reason?: string, via: readonly string[] = [], extra: JsonObject = {}): Promise<string> {
    const { roomId, servers } = await this.resolveForJoin(roomIdOrAlias)
    const repos = this.storage.repos
    const [room, resident, own] = await Promise.all([
      repos.rooms.get(roomId),
      repos.memberships.hasJoinedOfServer(roomId, this.serverName),
      repos.memberships.get(roomId, requester.userId),
    ])
    // A guest joins only a room whose m.room.guest_access is can_join (checked with the join, below): of a room
    // this server is not in, it knows no state to check, so the join is refused (as Synapse).
    if (requester.isGuest && (!room || !resident)) throw forbidden('Guest access not allowed')
    await refuseBlockedRoom(repos, roomId)
    const inviter = own?.membership === 'invite' ? parseUserId(own.sender)?.serverName : undefined
    const candidates = joinCandidates(roomId, via, servers, inviter ? [inviter] : []).filter((s) => s !== this.serverName)
    if (room && (resident || !this.remoteJoins || candidates.length === 0)) {
      await this.changeMembership(requester, roomId, requester.userId, withReason({ ...clientMemberContent(extra), membership: 'join' }, reason))
      return roomId
    }
    if (!this.remoteJoins) throw notFound('No known servers for this room')
    const content = withReason({ ...(await this.memberProfile(repos, requester.userId)), ...clientMemberContent(extra) }, reason)
    await this.remoteJoins.join(requester.userId, roomId, candidates, content)
    return roomId
  }

  /** A room ID (with no servers of its own) or an alias, resolved here or by the alias's server. */
  async resolveForJoin(roomIdOrAlias: string): Promise<{ roomId: string; servers: string[] }> {
    if (!roomIdOrAlias.startsWith('#')) return { roomId: await this.resolveRoom(roomIdOrAlias), servers: [] }
    if (!this.aliases) return { roomId: await this.resolveRoom(roomIdOrAlias), servers: [] }
    const { room_id, servers } = await this.aliases(roomIdOrAlias)
    return { roomId: room_id, servers }
  }

  async knock(requester: Requester, roomIdOrAlias: string, reason?: string, via: readonly string[] = []): Promise<string> {
    const { roomId, servers } = await this.resolveForJoin(roomIdOrAlias)
    await refuseBlockedRoom(this.storage.repos, roomId)
    if (await this.isHere(roomId)) {
      await this.changeMembership(requester, roomId, requester.userId, withReason({ membership: 'knock' }, reason))
      return roomId
    }
    if (!this.remoteJoins) throw notFound('Unknown room')
    const content = withReason(await this.memberProfile(this.storage.repos, requester.userId), reason)
    await this.remoteJoins.knock(requester.userId, roomId, joinCandidates(roomId, via, servers).filter((s) => s !== this.serverName), content)
    return roomId
  }

  /**
   * Leaves a room; in a room this server is not in (an invite received, a knock sent), the leave goes
   * through the server that invited us (or the room's) with make_leave/send_leave.
   */
  async leave(requester: Requester, roomId: string, reason?: string): Promise<void> {
    if (this.remoteJoins && !(await this.isHere(roomId))) {
      const own = await this.storage.repos.memberships.get(roomId, requester.userId)
      if (own?.membership === 'invite' || own?.membership === 'knock') {
        const inviter = own.membership === 'invite' ? parseUserId(own.sender)?.serverName : undefined
        const servers = joinCandidates(roomId, inviter ? [inviter] : []).filter((s) => s !== this.serverName)
        await this.remoteJoins.leave(requester.userId, roomId, servers, withReason({}, reason))
        return
      }
    }
    await this.changeMembership(requester, roomId, requester.userId, withReason({ membership: 'leave' }, reason))
  }

  /** Whether this server holds the room's state (it is or was in the room, not only invited to it). */
  private async isHere(roomId: string): Promise<boolean> {
    const room = await this.storage.repos.rooms.get(roomId)
    return room !== null && room.state_group !== null
  }

  async invite(requester: Requester, roomId: string, target: string, reason?: string, content: JsonObject = { membership: 'invite' }): Promise<void> {
    if (!isUserId(target)) throw invalidParam('Invalid user ID')
    const targetServer = parseUserId(target)?.serverName
    if (targetServer !== this.serverName) {
      if (!this.remoteInvites || !targetServer) throw new MatrixError('M_UNKNOWN', 'Users of other servers cannot be invited (federation is off)', 400)
      return this.inviteRemote(requester, roomId, target, targetServer, withReason(content, reason))
    }
    if (!(await this.storage.repos.users.exists(target))) throw notFound(`Unknown user ${target}`)
    await this.changeMembership(requester, roomId, target, withReason({ ...content }, reason))
  }

  /**
   * An invite of another server's user: built on the room as it is and allowed by the auth rules, signed by
   * the invitee's server (which shows it to them), then appended as that co-signed event. The room is not
   * locked meanwhile: the invite takes its place in the DAG like any event whose prev_events moved on.
   */
  private async inviteRemote(requester: Requester, roomId: string, target: string, targetServer: string, content: JsonObject): Promise<void> {
    const remote = this.remoteInvites as RemoteInvites
    const template: EventTemplate = { type: 'm.room.member', state_key: target, sender: requester.userId, content }
    const { event, version, stripped } = await this.storage.transaction(async (repos) => {
      const room = await this.writer.open(repos, roomId, [template])
      const built = this.writer.buildChecked(room, template)
      const keys: Array<[string, string]> = [...STRIPPED_STATE_TYPES.map((t): [string, string] => [t, '']), ['m.room.member', requester.userId]]
      const rows = await repos.state.currentEvents(roomId, keys)
      const stripped = rows.map((r) => {
        const e = JSON.parse(r.json) as { type: string; state_key: string; sender: string; content: JsonObject }
        return { type: e.type, state_key: e.state_key, sender: e.sender, content: e.content }
      })
      return { event: built, version: room.version, stripped }
    })
    const signed = await remote.send(targetServer, version, event, stripped)
    await remote.append(signed)
  }

  async kick(requester: Requester, roomId: string, target: string, reason?: string): Promise<void> {
    if (!isUserId(target)) throw invalidParam('Invalid user ID')
    const current = await this.storage.repos.memberships.get(roomId, target)
    if (!current || (current.membership !== 'join' && current.membership !== 'invite' && current.membership !== 'knock')) {
      throw forbidden(`${target} is not in the room`)
    }
    await this.changeMembership(requester, roomId, target, withReason({ membership: 'leave' }, reason))
  }

  async ban(requester: Requester, roomId: string, target: string, reason?: string): Promise<void> {
    if (!isUserId(target)) throw invalidParam('Invalid user ID')
    await this.changeMembership(requester, roomId, target, withReason({ membership: 'ban' }, reason))
  }

  async unban(requester: Requester, roomId: string, target: string, reason?: string): Promise<void> {
    if (!isUserId(target)) throw invalidParam('Invalid user ID')
    const current = await this.storage.repos.memberships.get(roomId, target)
    if (current?.membership !== 'ban') throw forbidden(`${target} is not banned`)
    await this.changeMembership(requester, roomId, target, withReason({ membership: 'leave' }, reason))
  }

  /** POST /rooms/{roomId}/forget: only once the user has left. */
  async forget(requester: Requester, roomId: string): Promise<void> {
    const current = await this.storage.repos.memberships.get(roomId, requester.userId)
    if (current && (current.membership === 'join' || current.membership === 'invite' || current.membership === 'knock')) {
      throw new MatrixError('M_UNKNOWN', 'You must leave the room before forgetting it', 400)
    }
    if (current) await this.storage.repos.memberships.forget(roomId, requester.userId)
  }
}

/** Writing to several rooms in one transaction (see Rooms.writeRooms). */
export interface RoomBatch {
  repos: Repositories
  create(version: RoomVersion, templates: EventTemplate[], roomId: string): Promise<{ roomId: string; eventIds: string[] }>
  append(roomId: string, template: EventTemplate): Promise<string>
}

/**
 * What a guest may do to memberships (client-server API, "Guest Access"): join only while the room's
 * m.room.guest_access is can_join; leave; nothing to anyone else.
 */
async function refuseGuestMembership(repos: Repositories, roomId: string, userId: string, target: string, membership: unknown): Promise<void> {
  if (target !== userId || (membership !== 'join' && membership !== 'leave')) throw forbidden('Guest access not allowed')
  if (membership === 'join' && (await currentStateValue(repos, roomId, 'm.room.guest_access', 'guest_access')) !== 'can_join') throw forbidden('Guest access not allowed')
}

/** Memberships that bring a user into a room (what a blocked room refuses). */
const ENTERING = new Set(['join', 'invite', 'knock'])

/** 403 for a room an admin blocked (RoomShutdown): nobody joins, knocks on or is invited to it. */
export async function refuseBlockedRoom(repos: Repositories, roomId: string): Promise<void> {
  if (await repos.rooms.isBlocked(roomId)) throw forbidden('This room has been blocked on this server')
}

/** A user on whose behalf the server writes, with no request of theirs (a profile change, an accepted third-party invite). */
export function actingAs(userId: string): Requester {
  return { userId, deviceId: '', isAdmin: false, tokenHash: Buffer.alloc(0) } as Requester
}

/** The displayname and avatar_url from a user's profile fields, as membership events carry them. */
function memberContentOf(fields: Record<string, unknown>): JsonObject {
  const content: JsonObject = {}
  if (typeof fields.displayname === 'string') content.displayname = fields.displayname
  if (typeof fields.avatar_url === 'string' && fields.avatar_url !== '') content.avatar_url = fields.avatar_url
  return content
}

/** The memberships whose events carry the target's profile (a leave or ban carries none). */
const PROFILED_MEMBERSHIPS = new Set(['join', 'invite', 'knock'])

/** New aliases one m.room.canonical_alias may name (each is looked up). */
const MAX_CANONICAL_ALIASES = 100

/** Keys of a member event's content the server decides, never taken from a client's join body. */
const SERVER_MEMBER_KEYS = new Set(['membership', 'reason', 'third_party_invite', 'join_authorised_via_users_server', 'third_party_signed'])

function clientMemberContent(extra: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(extra).filter(([k]) => !SERVER_MEMBER_KEYS.has(k)))
}

function withReason(content: JsonObject, reason: string | undefined): JsonObject {
  if (reason !== undefined) content.reason = reason
  return content
}
