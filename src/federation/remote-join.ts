// Joining a room this server is not in (server-server API, "Joining Rooms"): make_join on a resident
// server, our signed join event, send_join v2 (v1 with servers that lack it), the answer's state and auth
// chain verified (signatures and hashes, then the authorization rules against their own auth events), then
// the room persisted from that state with our join appended on it.
import { hashAndSignEvent, isState, parsePdu, referenceHash, MAX_AUTH_EVENTS, MAX_PREV_EVENTS, type JsonObject, type Pdu, type RoomEvent } from '../protocol/events/index.ts'
import { encodeBase64 } from '../protocol/base64.ts'
import { ROOM_VERSIONS, roomVersion, type RoomVersion } from '../protocol/room-versions.ts'
import { serverNameOf } from '../protocol/events/index.ts'
import type { SigningKey } from '../protocol/signing.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, notFound } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import { randomString } from '../shared/random.ts'
import { FederationError, type FederationClient } from './client.ts'
import { strippedStateOf } from '../rooms/client-events.ts'
import { isObject } from '../protocol/auth/room-state.ts'

/** At most this many servers are tried for one join (the client's via list may be long). */
export const MAX_JOIN_SERVERS = 10

/** Checks a PDU received from another server (signatures of every required server, content hash: an
 * event whose hash does not match is redacted); null when it must be dropped. */
export type PduVerifier = (raw: unknown, version: RoomVersion) => Promise<RoomEvent | null>

/**
 * Persists a room joined through the resident server `origin`: its state and auth chain, then our join on
 * that state; throws when the join is not accepted (the state does not allow it).
 */
export type JoinedRoomSink = (room: { roomId: string; version: RoomVersion; state: RoomEvent[]; authChain: RoomEvent[]; join: RoomEvent; origin: string }) => Promise<void>

export interface RemoteJoinOptions {
  serverName: string
  client: FederationClient
  signingKey: () => SigningKey
  clock: Clock
  logger: Logger
  verifyPdu: PduVerifier
  persist: JoinedRoomSink
  /** Our user's membership event in a room this server is not in (the invite a leave rejects), as stored, or null. */
  membershipEvent?: (roomId: string, userId: string) => Promise<JsonObject | null>
  /** Keeps our membership in a room this server is not in (a rejected invite, a knock; RemoteEvents.keepMembershipOutside). */
  keepOutside: (event: RoomEvent, version: RoomVersion, unsigned: JsonObject) => Promise<void>
  /** Bounds on a send_join answer: its size in bytes, its events (state plus auth chain), its time. */
  limits?: { maxResponseBytes: number; maxEvents: number; timeoutMs: number }
}

/**
 * A send_join answer holds the room's whole state and auth chain: a room of 100,000 members is some 100 MB.
 * Beyond these, a join is refused rather than let one answer hold the instance's memory and event loop.
 */
export const SEND_JOIN_LIMITS = { maxResponseBytes: 256 * 1024 * 1024, maxEvents: 300_000, timeoutMs: 300_000 }

/** The room versions this server offers in make_join's `ver`. */
const SUPPORTED_VERSIONS = [...ROOM_VERSIONS.keys()]

/** A failure that ends the attempt on every server: the resident server refused us (not "try elsewhere"). */
function isFinal(err: unknown): boolean {
  if (err instanceof MatrixError) return true
  if (!(err instanceof FederationError) || err.kind !== 'http' || err.status === null) return false
  return err.status >= 400 && err.status < 500 && err.errcode !== 'M_NOT_FOUND' && err.errcode !== 'M_UNRECOGNIZED' && err.status !== 429
}

/**
 * The remote server does not serve the endpoint: 404 or 405 saying no more, or M_UNRECOGNIZED. Then the
 * older version of the endpoint is worth a try (v1 send_join, send_leave and invite before v2).
 */
function isUnknownEndpoint(err: unknown): boolean {
  if (!(err instanceof FederationError) || err.kind !== 'http') return false
  if (err.status === 404 || err.status === 405) return err.errcode === null || err.errcode === 'M_UNRECOGNIZED'
  return err.status === 400 && err.errcode === 'M_UNRECOGNIZED'
}

/** The body of a v1 answer (send_join, send_leave, invite): [200, body]; undefined when it has another shape. */
function unwrapV1(answer: unknown): JsonObject | undefined {
  return Array.isArray(answer) && answer.length === 2 && answer[0] === 200 && isObject(answer[1]) ? answer[1] : undefined
}

/**
 * `v2()`, or `v1()` (when there is one) if the server does not know v2: v1's answer unwrapped (an unexpected
 * shape stays as it came, for the caller's checks to refuse).
 */
export async function withV1Fallback(v2: () => Promise<unknown>, v1: (() => Promise<unknown>) | null): Promise<unknown> {
  try {
    return await v2()
  } catch (err) {
    if (!v1 || !isUnknownEndpoint(err)) throw err
  }
  const answer = await v1()
  return unwrapV1(answer) ?? answer
}

/** A remote server's 4xx refusal passed on to our client with its errcode (and room_version for M_INCOMPATIBLE_ROOM_VERSION). */
function asClientError(err: FederationError, server: string, what: string): MatrixError {
  const errcode = err.errcode ?? 'M_UNKNOWN'
  const extra: Record<string, unknown> = {}
  if (errcode === 'M_INCOMPATIBLE_ROOM_VERSION' && typeof err.body?.room_version === 'string') extra.room_version = err.body.room_version
  return new MatrixError(errcode, `${server} refused the ${what}: ${err.message}`, err.status ?? 502, extra)
}


export class RemoteJoins {
  private readonly options: RemoteJoinOptions
  private readonly limits: typeof SEND_JOIN_LIMITS

  constructor(options: RemoteJoinOptions) {
    this.options = options
    this.limits = options.limits ?? SEND_JOIN_LIMITS
  }

  /**
   * Joins `userId` (ours) to `roomId` through the first of `servers` that lets us; `content` is the rest of
   * the join's content (displayname, avatar_url, reason). Throws the resident server's refusal as it gave it,
   * or 404 M_NOT_FOUND when no server could be reached.
   */
  async join(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<void> {
    await this.throughAny('join', roomId, servers, (server) => this.joinVia(server, userId, roomId, content))
  }

  /**
   * Rejects an invite to (or withdraws a knock on) a room this server is not in: make_leave/send_leave
   * through the first of `servers` that lets us, our leave then kept as the user's membership. An invite no
   * server lets us reject (the inviting server refuses, fails or is down) is rejected here alone: the user
   * is rid of it, and the room's servers still count them as invited.
   */
  async leave(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<void> {
    try {
      await this.throughAny('leave', roomId, servers, async (server) => {
        const { event, version } = await this.sendMembership(server, 'leave', userId, roomId, content)
        await this.options.keepOutside(event, version, {})
      })
    } catch (err) {
      if (!(await this.rejectLocally(userId, roomId, content))) throw err
      this.options.logger.warn({ roomId, err: err instanceof Error ? err.message : String(err) }, 'invite rejected here only: no server let us reject it')
    }
  }

  /**
   * Our leave after the invite, built as if the invite were the room's template (prev and auth event: the
   * invite), signed by us and kept as the user's membership; sent nowhere. False when the user's membership
   * here is not an invite of a room version this server knows.
   */
  private async rejectLocally(userId: string, roomId: string, content: JsonObject): Promise<boolean> {
    const stored = await this.options.membershipEvent?.(roomId, userId)
    if (!stored || !isObject(stored.content) || stored.content.membership !== 'invite') return false
    const version = inviteRoomVersion(stored, roomId)
    if (!version) return false
    const { unsigned: _unsigned, ...pdu } = stored
    const invite = parsePdu(pdu, version)
    if (!invite.ok) return false
    const ref = version.eventFormat === 1 ? [invite.event.event_id, { sha256: encodeBase64(referenceHash(invite.event.pdu, version)) }] : invite.event.event_id
    const template = { type: 'm.room.member', room_id: roomId, sender: userId, state_key: userId, content: { membership: 'leave' }, prev_events: [ref], auth_events: [ref], depth: invite.event.depth + 1 }
    const { pdu: leave } = this.eventFromTemplate({ room_version: version.id, event: template }, this.options.serverName, userId, roomId, 'leave', content)
    const parsed = parsePdu(leave, version)
    if (!parsed.ok) return false
    await this.options.keepOutside(parsed.event, version, {})
    return true
  }

  /** Knocks on a room of another server: make_knock/send_knock, the knock kept with the room state shown. */
  async knock(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<void> {
    await this.throughAny('knock', roomId, servers, async (server) => {
      let shown: unknown
      const { event, version } = await this.sendMembership(server, 'knock', userId, roomId, content, (answer) => {
        shown = isObject(answer) ? answer.knock_room_state : undefined
      })
      await this.options.keepOutside(event, version, { knock_room_state: strippedStateOf(shown) })
    })
  }

  /** Runs `attempt` on each candidate server until one succeeds; a final refusal ends the search at once. */
  private async throughAny(what: string, roomId: string, servers: readonly string[], attempt: (server: string) => Promise<void>): Promise<void> {
    const candidates = [...new Set(servers)].filter((s) => s !== this.options.serverName).slice(0, MAX_JOIN_SERVERS)
    if (candidates.length === 0) throw notFound('No known servers for this room')
    const failures: string[] = []
    let unknownEverywhere = true
    for (const server of candidates) {
      try {
        await attempt(server)
        return
      } catch (err) {
        if (isFinal(err)) throw err instanceof FederationError ? asClientError(err, server, what) : err
        const message = err instanceof Error ? err.message : String(err)
        this.options.logger.warn({ server, roomId, err: message }, `remote ${what} failed; trying the next server`)
        failures.push(`${server}: ${message}`)
        if (!(err instanceof FederationError && err.status === 404)) unknownEverywhere = false
      }
    }
    // Every server answered that it does not know the room: the room is unknown, not unreachable.
    if (unknownEverywhere) throw notFound(`No server asked knows ${roomId}`)
    throw new MatrixError('M_UNKNOWN', `Could not ${what} ${roomId} through any server (${failures.join('; ')})`, 502)
  }

  /** make_{leave,knock} then send_{leave v2, knock v1} on `server`: our signed event, as sent. */
  private async sendMembership(server: string, membership: 'leave' | 'knock', userId: string, roomId: string, content: JsonObject, answered?: (answer: unknown) => void): Promise<{ event: RoomEvent; version: RoomVersion }> {
    const { client } = this.options
    const path = (v: string, what: string, ...ids: string[]) => `/_matrix/federation/${v}/${what}/${ids.map(encodeURIComponent).join('/')}`
    const made = await client.request<unknown>(server, { method: 'GET', path: path('v1', `make_${membership}`, roomId, userId), ...(membership === 'knock' ? { query: { ver: SUPPORTED_VERSIONS } } : {}) })
    const { version, pdu } = this.eventFromTemplate(made, server, userId, roomId, membership, content)
    const parsed = parsePdu(pdu, version)
    if (!parsed.ok) throw new Error(`the ${membership} built from ${server}'s template is not valid: ${parsed.reason}`)
    const send = (v: string) => client.request<unknown>(server, { method: 'PUT', path: path(v, `send_${membership}`, roomId, parsed.event.event_id), body: pdu })
    const answer = membership === 'knock' ? await send('v1') : await withV1Fallback(() => send('v2'), () => send('v1'))
    answered?.(answer)
    return { event: parsed.event, version }
  }

  private async joinVia(server: string, userId: string, roomId: string, content: JsonObject): Promise<void> {
    const { client } = this.options
    const path = (v: string, what: string, ...ids: string[]) => `/_matrix/federation/${v}/${what}/${ids.map(encodeURIComponent).join('/')}`
    const made = await client.request<unknown>(server, { method: 'GET', path: path('v1', 'make_join', roomId, userId), query: { ver: SUPPORTED_VERSIONS } })
    const { version, pdu } = this.eventFromTemplate(made, server, userId, roomId, 'join', content)
    const parsed = parsePdu(pdu, version)
    if (!parsed.ok) throw new Error(`the join built from ${server}'s template is not valid: ${parsed.reason}`)
    const ours = parsed.event

    const send = (v: string) =>
      client.request<unknown>(server, { method: 'PUT', path: path(v, 'send_join', roomId, ours.event_id), body: pdu, timeoutMs: this.limits.timeoutMs, maxBytes: this.limits.maxResponseBytes })
    const answer = await withV1Fallback(() => send('v2'), () => send('v1'))
    const { state, authChain, join } = await this.verifyAnswer(answer, server, version, roomId, ours)
    await this.options.persist({ roomId, version, state, authChain, join, origin: server })
  }

  /** Our membership event, hashed and signed, from a make_* template: only the fields the template may decide. */
  private eventFromTemplate(made: unknown, server: string, userId: string, roomId: string, membership: 'join' | 'leave' | 'knock', content: JsonObject): { version: RoomVersion; pdu: Pdu } {
    if (!isObject(made) || !isObject(made.event)) throw new Error(`${server} answered make_${membership} without an event`)
    const versionId = made.room_version === undefined ? '1' : made.room_version
    const version = typeof versionId === 'string' ? roomVersion(versionId) : undefined
    if (!version) {
      throw new MatrixError('M_INCOMPATIBLE_ROOM_VERSION', `The room's version ${String(versionId)} is not supported by this server`, 400, {
        room_version: String(versionId),
      })
    }
    const t = made.event
    const valid =
      t.type === 'm.room.member' &&
      t.state_key === userId &&
      t.sender === userId &&
      t.room_id === roomId &&
      isObject(t.content) &&
      t.content.membership === membership &&
      Array.isArray(t.prev_events) &&
      t.prev_events.length > 0 &&
      t.prev_events.length <= MAX_PREV_EVENTS &&
      Array.isArray(t.auth_events) &&
      t.auth_events.length <= MAX_AUTH_EVENTS &&
      Number.isSafeInteger(t.depth) &&
      (t.depth as number) >= 0
    if (!valid) throw new Error(`${server}'s make_${membership} template is not a ${membership} of ${userId} to ${roomId}`)
    const templateContent = t.content as JsonObject
    const joinContent: JsonObject = { ...content, membership }
    // A restricted join names the resident user who authorises it; the resident server co-signs for it.
    if (membership === 'join' && version.restrictedJoinRule && typeof templateContent.join_authorised_via_users_server === 'string') {
      joinContent.join_authorised_via_users_server = templateContent.join_authorised_via_users_server
    }
    const unsigned: JsonObject = {
      type: 'm.room.member',
      room_id: roomId,
      sender: userId,
      state_key: userId,
      content: joinContent,
      depth: t.depth,
      prev_events: t.prev_events,
      auth_events: t.auth_events,
      origin_server_ts: this.options.clock.now(),
    }
    if (version.eventFormat === 1) unsigned.event_id = `$${randomString(24)}:${this.options.serverName}`
    return { version, pdu: hashAndSignEvent(unsigned, version, this.options.serverName, this.options.signingKey()) }
  }

  /**
   * send_join's answer, checked: every PDU's signatures and hash (dropped when they fail, redacted when only
   * the hash does), the create event naming this room's version, and our join (co-signed by the resident
   * server for a restricted join). The authorization rules are the ingest's (ingestJoinedRoom): it stores
   * the state and auth chain checked against their own auth events, and the join only if that state allows it.
   */
  private async verifyAnswer(
    answer: unknown,
    server: string,
    version: RoomVersion,
    roomId: string,
    ours: RoomEvent,
  ): Promise<{ state: RoomEvent[]; authChain: RoomEvent[]; join: RoomEvent }> {
    if (!isObject(answer) || !Array.isArray(answer.state) || !Array.isArray(answer.auth_chain)) {
      throw new Error(`${server} answered send_join without state and auth_chain`)
    }
    if (answer.state.length + answer.auth_chain.length > this.limits.maxEvents) {
      throw new Error(`${server}'s send_join answer holds more than ${this.limits.maxEvents} events`)
    }
    const verifyAll = async (raws: unknown[]): Promise<RoomEvent[]> => {
      const out: RoomEvent[] = []
      for (const raw of raws) {
        const event = await this.options.verifyPdu(raw, version)
        if (event && event.room_id === roomId) out.push(event)
      }
      return out
    }
    const state = (await verifyAll(answer.state)).filter((e) => isState(e))
    const authChain = await verifyAll(answer.auth_chain)

    let join = ours
    if (answer.event !== undefined) {
      const cosigned = await this.options.verifyPdu(answer.event, version)
      if (!cosigned || cosigned.event_id !== ours.event_id) throw new Error(`${server} answered send_join with another event than our join`)
      join = cosigned
    }
    const create = state.find((e) => e.type === 'm.room.create' && e.state_key === '')
    if (!create) throw new Error(`${server}'s send_join state has no valid m.room.create event`)
    const createVersion = create.content.room_version ?? '1'
    if (createVersion !== version.id) throw new Error(`${server}'s m.room.create is of version ${String(createVersion)}, not ${version.id}`)
    return { state, authChain, join }
  }
}

/**
 * The version of the room an invite we kept is to (its version is stored nowhere else): the one its stripped
 * state's create event names, else what its format tells (an event_id field: 1; a room ID of no server: 12),
 * else 10. The leave built on it is seen here only, so the rest of what versions 3 to 11 differ in is moot.
 */
function inviteRoomVersion(stored: JsonObject, roomId: string): RoomVersion | undefined {
  const shown = isObject(stored.unsigned) ? strippedStateOf(stored.unsigned.invite_room_state) : []
  const create = shown.find((e) => e.type === 'm.room.create' && e.state_key === '')
  const said = create && isObject(create.content) ? create.content.room_version : undefined
  if (typeof said === 'string') return roomVersion(said)
  if (typeof stored.event_id === 'string') return roomVersion('1')
  if (!roomId.includes(':')) return roomVersion('12')
  return roomVersion('10')
}

/**
 * The servers to try for joining `roomId`: those the client named (`via`, `server_name`), those the
 * alias resolved to, the room ID's own server before v12 room IDs (which name none), and the server of
 * whoever invited us. Our own server and names that cannot be a server are left out.
 */
export function joinCandidates(roomId: string, ...lists: ReadonlyArray<readonly string[]>): string[] {
  const out = new Set<string>()
  for (const list of lists) for (const server of list) out.add(server)
  const idServer = serverNameOf(roomId)
  if (idServer) out.add(idServer)
  return [...out]
}
