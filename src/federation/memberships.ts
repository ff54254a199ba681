// The resident server's side of joining, leaving and knocking over federation (server-server API, "Joining
// Rooms", "Restricted rooms", "Leaving Rooms (Rejecting Invites)", "Knocking upon a room"): make_* answers a
// template built on the room's forward extremities and current state; send_* checks the signed event and
// appends it through the ingest (ctx.remoteEvents), like any remote event, co-signing restricted joins that
// one of our users authorised.
import { checkEventAuth, inviteLevel, joinRuleOf, membershipOf, selectAuthEvents, userPowerLevel, type AuthState } from '../protocol/auth/index.ts'
import { buildEvent, eventJsonBytes, MAX_PDU_BYTES, parsePdu, referenceHash, signEvent, type JsonObject, type Pdu, type RoomEvent } from '../protocol/events/index.ts'
import { stateKey, type StateKey } from '../protocol/events/types.ts'
import { requesterVersionError, roomVersion, type RoomVersion } from '../protocol/room-versions.ts'
import type { SigningKey } from '../protocol/signing.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, forbidden, notFound } from '../shared/errors.ts'
import { parseUserId } from '../shared/ids.ts'
import type { Storage } from '../storage/index.ts'
import type { RemoteEvents } from '../rooms/ingest.ts'
import { keysFor, parseStored } from '../rooms/writer.ts'
import { isObject } from '../protocol/auth/room-state.ts'
import type { RemoteKeys } from './keys.ts'
import { checkIncomingPdu, type KeyLookup } from './pdu-check.ts'
import { compileServerAcl, serverAllowedByAcl } from '../protocol/server-acl.ts'
import { STRIPPED_STATE_TYPES } from '../rooms/client-events.ts'

export type RemoteMembership = 'join' | 'leave' | 'knock'

/** The send_join answer (v2), without partial state: the whole state before the join and its auth chain. */
export interface SendJoinAnswer {
  /** The resident server (this one). */
  origin: string
  state: Pdu[]
  auth_chain: Pdu[]
  /** The join as this server co-signed it (restricted joins). */
  event?: Pdu
}

/** At most this many prev_events in a template, as for local events. */
const MAX_PREV_EVENTS = 10
/** Allow conditions of a restricted join rule looked at. */
const MAX_ALLOW_CONDITIONS = 50

const invalid = (message: string) => new MatrixError('M_INVALID_PARAM', message, 400)

/** Why `raw` is not a well-formed event of the room version (its JSON, size and fields), or null. */
function malformation(raw: unknown, version: RoomVersion): string | null {
  if (!isObject(raw)) return 'an event must be a JSON object'
  let size: number
  try {
    size = eventJsonBytes(raw, version).length
  } catch (error) {
    return `not canonical JSON: ${(error as Error).message}`
  }
  if (size > MAX_PDU_BYTES) return `the event is ${size} bytes, over ${MAX_PDU_BYTES}`
  // An event sent without its hashes or signatures is one nobody signed: refused as such, below.
  if (raw.hashes === undefined || raw.signatures === undefined) return null
  const parsed = parsePdu(raw, version)
  return parsed.ok ? null : parsed.reason
}

/**
 * A membership event another server hands us to sign or append (send_join, send_leave, send_knock, invite),
 * checked as a received PDU ("Checks performed on receipt of a PDU", steps 1–3): 400 M_BAD_JSON when it is
 * not a well-formed event of the room's version (strict canonical JSON from room version 6: no floats),
 * 403 M_FORBIDDEN when it is not signed (no hashes or signatures at all) or a signature it needs is missing
 * or does not verify, 400 M_INVALID_PARAM when it does not match its content hash (a redacted copy is no
 * membership to accept).
 */
export async function checkSentPdu(raw: unknown, version: RoomVersion, keys: KeyLookup): Promise<RoomEvent> {
  const malformed = malformation(raw, version)
  if (malformed !== null) throw new MatrixError('M_BAD_JSON', `The event is not valid: ${malformed}`, 400)
  const checked = await checkIncomingPdu(raw, version, keys)
  if (!checked.ok) throw forbidden(`The event is not accepted: ${checked.reason}`)
  if (checked.redacted) throw invalid('The event does not match its content hash')
  return checked.event
}

export class FederationMemberships {
  private readonly serverName: string
  private readonly storage: Storage
  private readonly remoteEvents: RemoteEvents
  private readonly keys: RemoteKeys
  private readonly signingKey: () => SigningKey
  private readonly clock: Clock

  constructor(deps: { serverName: string; storage: Storage; remoteEvents: RemoteEvents; keys: RemoteKeys; signingKey: () => SigningKey; clock: Clock }) {
    this.serverName = deps.serverName
    this.storage = deps.storage
    this.remoteEvents = deps.remoteEvents
    this.keys = deps.keys
    this.signingKey = deps.signingKey
    this.clock = deps.clock
  }

  /**
   * The room's version, if this server is in the room (one of its users is joined) and the room's server ACL
   * (m.room.server_acl) lets `origin` take part; M_NOT_FOUND or M_FORBIDDEN otherwise.
   */
  private async roomOf(roomId: string, origin: string): Promise<RoomVersion> {
    const repos = this.storage.repos
    const [room, acl, inRoom] = await Promise.all([
      repos.rooms.get(roomId),
      repos.state.currentEvents(roomId, [['m.room.server_acl', '']]),
      repos.memberships.hasJoinedOfServer(roomId, this.serverName),
    ])
    const version = room && roomVersion(room.room_version)
    if (!version || room.state_group === null || !inRoom) throw notFound('Unknown room')
    const content = acl[0] ? (JSON.parse(acl[0].json) as { content?: unknown }).content : undefined
    if (acl[0] && !serverAllowedByAcl(origin, compileServerAcl(content))) throw forbidden('The server access control list of the room denies your server')
    return version
  }

  /** GET make_join / make_leave / make_knock: an unsigned template of the membership event for `userId`. */
  async make(origin: string, roomId: string, userId: string, membership: RemoteMembership, ver?: readonly string[]): Promise<{ room_version: string; event: JsonObject }> {
    if (parseUserId(userId)?.serverName !== origin) throw forbidden('The user is not of the requesting server')
    const version = await this.roomOf(roomId, origin)
    if (membership !== 'leave') {
      const refused = requesterVersionError(version.id, ver, membership)
      if (refused) throw refused
    }
    if (membership === 'knock' && !version.knock) {
      throw new MatrixError('M_INCOMPATIBLE_ROOM_VERSION', `Room version ${version.id} does not support knocking`, 400, { room_version: version.id })
    }
    const repos = this.storage.repos
    const template = { type: 'm.room.member', state_key: userId, sender: userId, content: { membership } as JsonObject }
    let state = await this.stateFor(roomId, version, template)
    if (membership === 'join') {
      const authoriser = await this.authoriser(roomId, version, userId, state)
      if (authoriser !== null) {
        template.content.join_authorised_via_users_server = authoriser
        state = await this.stateFor(roomId, version, template)
      }
    }
    const extremities = await repos.rooms.extremities(roomId)
    // Chosen by the depth each is ordered by here (not a sender's claim); the template's depth is the one every
    // server reads, the highest of theirs plus one.
    const depthOf = new Map(extremities.map((x) => [x.event_id, x.depth]))
    const prev = (await repos.events.pdus(roomId, extremities.map((x) => x.event_id)))
      .map((r) => parseStored(r.json, version, r.event_id))
      .sort((a, b) => (depthOf.get(b.event_id) ?? 0) - (depthOf.get(a.event_id) ?? 0))
      .slice(0, MAX_PREV_EVENTS)
    const depth = Math.min(prev.reduce((max, e) => Math.max(max, e.depth), 0) + 1, Number.MAX_SAFE_INTEGER)
    const ref = (e: RoomEvent) => ({ event_id: e.event_id, ...(version.eventFormat === 1 ? { referenceHash: referenceHash(e.pdu, version) } : {}) })
    const built = buildEvent(
      { ...template, room_id: roomId, origin_server_ts: this.clock.now(), depth },
      { version, serverName: this.serverName, signingKey: this.signingKey(), prevEventRefs: prev.map(ref), authEventRefs: selectAuthEvents(template, state, version).map(ref) },
    )
    const verdict = checkEventAuth(built.event, state, version)
    if (!verdict.allowed) throw forbidden(`You may not ${membership === 'leave' ? 'leave' : membership} this room: ${verdict.reason}`)
    // The joining server hashes and signs it (and names it, in v1/v2).
    const { signatures: _signatures, hashes: _hashes, event_id: _eventId, ...event } = built.pdu
    return { room_version: version.id, event }
  }

  /** The current state the auth rules read for a membership event (parsed). */
  private async stateFor(roomId: string, version: RoomVersion, template: { type: string; state_key: string; sender: string; content: JsonObject }): Promise<AuthState> {
    const rows = await this.storage.repos.state.currentEvents(roomId, keysFor(template, version))
    return new Map(rows.map((r) => [stateKey(r.type, r.state_key), parseStored(r.json, version, r.event_id)]))
  }

  /**
   * For a restricted room (rooms v8+, "Restricted rooms"): one of our users who may invite and vouches for
   * the join, when the user meets an allow condition (joined to one of the rooms listed, among those this
   * server has). Null when no authoriser is needed (not restricted, or already invited or joined).
   */
  private async authoriser(roomId: string, version: RoomVersion, userId: string, state: AuthState): Promise<string | null> {
    const rule = joinRuleOf(state)
    const restricted = (rule === 'restricted' && version.restrictedJoinRule) || (rule === 'knock_restricted' && version.knockRestricted)
    const current = membershipOf(userId, state)
    if (!restricted || current === 'join' || current === 'invite') return null
    const allow = state.get(stateKey('m.room.join_rules', ''))?.content.allow
    const rooms = (Array.isArray(allow) ? allow : [])
      .slice(0, MAX_ALLOW_CONDITIONS)
      .flatMap((c) => (c && typeof c === 'object' && c.type === 'm.room_membership' && typeof c.room_id === 'string' ? [c.room_id as string] : []))
    const repos = this.storage.repos
    const memberships = await Promise.all(rooms.map((r) => repos.memberships.get(r, userId)))
    if (!memberships.some((m) => m?.membership === 'join')) {
      // Refused outright when this server is in a room listed (it knows the user is not joined there);
      // otherwise it cannot tell, and the joining server may ask another.
      const known = await Promise.all(rooms.map((r) => repos.memberships.hasJoinedOfServer(r, this.serverName)))
      if (known.some(Boolean)) throw forbidden('You do not meet any condition of the join rule')
      throw new MatrixError('M_UNABLE_TO_AUTHORISE_JOIN', 'This server cannot tell that the user meets any condition of the join rule', 400)
    }
    const levels = state.get(stateKey('m.room.power_levels', ''))?.content
    const needed = inviteLevel(levels, version)
    const local = await repos.memberships.ofServer(roomId, this.serverName, 'join')
    const members = await this.storage.repos.state.currentEvents(roomId, local.map((u): [string, string] => ['m.room.member', u]))
    const withMembers = new Map<StateKey, RoomEvent>(state)
    for (const r of members) withMembers.set(stateKey(r.type, r.state_key), parseStored(r.json, version, r.event_id))
    const able = local.filter((u) => userPowerLevel(u, withMembers, version) >= needed).sort((a, b) => userPowerLevel(b, withMembers, version) - userPowerLevel(a, withMembers, version))
    if (able.length === 0) throw new MatrixError('M_UNABLE_TO_GRANT_JOIN', 'No user of this server may invite you; try another server', 400)
    return able[0] as string
  }

  /**
   * PUT send_join / send_leave (v1 and v2) / send_knock: checks the event the joining server signed and appends
   * it. A join is answered with the state before it and the auth chain (full state: no partial joins).
   */
  async send(origin: string, roomId: string, eventId: string, pdu: unknown, membership: RemoteMembership): Promise<SendJoinAnswer | { knock_room_state: JsonObject[] } | Record<string, never>> {
    const version = await this.roomOf(roomId, origin)
    // A restricted join one of our users vouches for (make_join chose them) needs our signature to be valid,
    // for the signature checks as for the auth rules: added first, the checks then cover the rest.
    let signed = pdu
    const content = isObject(pdu) && isObject(pdu.content) ? pdu.content : {}
    const authoriser = content.join_authorised_via_users_server
    const cosign = membership === 'join' && typeof authoriser === 'string' && parseUserId(authoriser)?.serverName === this.serverName
    if (cosign) {
      try {
        signed = signEvent(pdu as JsonObject, version, this.serverName, this.signingKey())
      } catch {
        throw new MatrixError('M_BAD_JSON', 'The event cannot be signed: it is not valid', 400)
      }
    }
    const event = await checkSentPdu(signed, version, (server, keyId, validity) => this.keys.verifyKey(server, keyId, validity))
    if (event.event_id !== eventId) throw invalid('The event ID does not match the event')
    if (event.room_id !== roomId) throw invalid('The event is for another room')
    if (event.type !== 'm.room.member') throw invalid('The event is not an m.room.member event')
    if (event.content.membership !== membership) throw invalid(`The membership is not ${membership}`)
    if (event.state_key !== event.sender) throw invalid('The state_key is not the sender')
    if (parseUserId(event.sender)?.serverName !== origin) throw forbidden('The sender is not of the requesting server')
    const result = await this.remoteEvents.ingest(event, { origin, relay: true })
    if (result.outcome === 'missing') throw invalid(`The event refers to events this server does not have: ${(result.missing ?? []).slice(0, 10).join(', ')}`)
    if (result.outcome === 'rejected' || result.outcome === 'soft-failed') throw forbidden(`The ${membership} is not allowed: ${result.reason ?? result.outcome}`)
    const stateBefore = await this.remoteEvents.stateBefore(roomId, event.event_id)
    // A repeat of an event stored aside (refused before) is refused again.
    if (stateBefore === null) throw forbidden(`The ${membership} is not allowed`)
    if (membership === 'leave') return {}
    if (membership === 'knock') {
      const shown = stateBefore.filter((e) => e.state_key === '' && STRIPPED_STATE_TYPES.includes(e.type))
      return { knock_room_state: shown.map((e) => ({ type: e.type, state_key: e.state_key, sender: e.sender, content: e.content })) }
    }
    const chain = await this.remoteEvents.authChain(roomId, version, [event.event_id, ...stateBefore.map((e) => e.event_id)])
    return { origin: this.serverName, state: stateBefore.map((e) => e.pdu), auth_chain: chain.map((e) => e.pdu), ...(cosign ? { event: event.pdu } : {}) }
  }
}
