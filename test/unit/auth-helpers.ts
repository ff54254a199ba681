// Builders for the auth suites: rooms and events without hashes or signatures, which authorization ignores.
import assert from 'node:assert/strict'
import { stateKey, type JsonObject, type Pdu, type RoomEvent, type StateKey } from '../../src/protocol/events/types.ts'
import { roomVersion, type RoomVersion } from '../../src/protocol/room-versions.ts'
import { checkEventAuth, type AuthResult, type CheckEventAuthOptions } from '../../src/protocol/auth/index.ts'

export const ALICE = '@alice:a.example'
export const BOB = '@bob:b.example'
export const CAROL = '@carol:a.example'
export const DAVE = '@dave:c.example'

export const ALL_VERSIONS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12']

export function version(id: string): RoomVersion {
  const found = roomVersion(id)
  if (!found) throw new Error(`no room version ${id}`)
  return found
}

/** Versions from `from` to `to` inclusive, by number. */
export function versions(from: number, to = 12): string[] {
  return ALL_VERSIONS.filter((v) => Number(v) >= from && Number(v) <= to)
}

export interface EventSpec {
  type: string
  sender: string
  state_key?: string
  content?: JsonObject
  prev_events?: string[]
  auth_events?: string[]
  redacts?: string
  event_id?: string
  room_id?: string
  /** Leave room_id out of the wire form (v12 create events). */
  noWireRoomId?: boolean
  signatures?: Record<string, Record<string, string>>
}

let sequence = 0

function domain(id: string): string {
  return id.slice(id.indexOf(':') + 1)
}

/** An event as the protocol core sees it. Event IDs carry the sender's server in v1/v2, as they did then. */
export function makeEvent(spec: EventSpec, v: RoomVersion, roomId: string): RoomEvent {
  sequence += 1
  const eventId = spec.event_id ?? (v.eventFormat === 1 ? `$${sequence}:${domain(spec.sender)}` : `$ev${sequence}`)
  const room = spec.room_id ?? roomId
  const pdu: Pdu = {
    type: spec.type,
    sender: spec.sender,
    content: spec.content ?? {},
    origin_server_ts: 1_700_000_000_000 + sequence,
    depth: sequence,
    prev_events: spec.prev_events ?? ['$previous'],
    auth_events: spec.auth_events ?? [],
    signatures: spec.signatures ?? { [domain(spec.sender)]: { 'ed25519:1': 'c2ln' } },
  }
  if (!spec.noWireRoomId) pdu.room_id = room
  if (spec.state_key !== undefined) pdu.state_key = spec.state_key
  if (spec.redacts !== undefined) pdu.redacts = spec.redacts
  if (v.eventFormat === 1) pdu.event_id = eventId
  const event: RoomEvent = {
    event_id: eventId,
    room_id: room,
    type: spec.type,
    sender: spec.sender,
    content: pdu.content,
    origin_server_ts: pdu.origin_server_ts,
    depth: pdu.depth,
    prev_events: pdu.prev_events as string[],
    auth_events: pdu.auth_events as string[],
    pdu,
  }
  if (spec.state_key !== undefined) event.state_key = spec.state_key
  if (spec.redacts !== undefined) event.redacts = spec.redacts
  return event
}

/** A create event for `v` by `creator`: content.creator before v11, no wire room_id in v12. */
export function makeCreate(v: RoomVersion, creator: string, extra: JsonObject = {}): RoomEvent {
  sequence += 1
  const content: JsonObject = { room_version: v.id, ...(v.implicitRoomCreator ? {} : { creator }), ...extra }
  if (v.roomIdFromCreateEvent) {
    const id = `create${sequence}`
    return makeEvent({ type: 'm.room.create', sender: creator, state_key: '', content, prev_events: [], event_id: `$${id}`, noWireRoomId: true }, v, `!${id}`)
  }
  return makeEvent({ type: 'm.room.create', sender: creator, state_key: '', content, prev_events: [] }, v, `!room${sequence}:${domain(creator)}`)
}

export interface RoomOptions {
  creator?: string
  /** Extra m.room.create content (additional_creators, m.federate, …). */
  createContent?: JsonObject
  /** Content of an m.room.power_levels event sent by the creator; none when left out. */
  powerLevels?: JsonObject
  /** An m.room.join_rules event with this join_rule; none when left out. */
  joinRule?: string
  /** Memberships to set up after the creator's join, e.g. { [BOB]: 'join' }. */
  members?: Record<string, string>
  /** Only the create event: not even the creator has joined. */
  bare?: boolean
}

/** A room in one version: create event, the creator joined, and whatever state the test sets. */
export class TestRoom {
  readonly version: RoomVersion
  readonly creator: string
  readonly create: RoomEvent
  readonly roomId: string
  readonly state = new Map<StateKey, RoomEvent>()

  constructor(versionId: string, options: RoomOptions = {}) {
    this.version = version(versionId)
    this.creator = options.creator ?? ALICE
    this.create = makeCreate(this.version, this.creator, options.createContent)
    this.roomId = this.create.room_id
    this.put(this.create)
    if (options.bare) return
    this.member(this.creator, 'join')
    if (options.powerLevels) this.set({ type: 'm.room.power_levels', sender: this.creator, state_key: '', content: options.powerLevels })
    if (options.joinRule) this.set({ type: 'm.room.join_rules', sender: this.creator, state_key: '', content: { join_rule: options.joinRule } })
    for (const [user, membership] of Object.entries(options.members ?? {})) this.member(user, membership)
  }

  event(spec: EventSpec): RoomEvent {
    return makeEvent(spec, this.version, this.roomId)
  }

  put(event: RoomEvent): RoomEvent {
    this.state.set(stateKey(event.type, event.state_key ?? ''), event)
    return event
  }

  /** The state event at (type, key); throws when there is none. */
  get(type: string, key = ''): RoomEvent {
    const found = this.state.get(stateKey(type, key))
    if (!found) throw new Error(`no ${type} ${key} in the room state`)
    return found
  }

  /** Builds a state event and puts it in the room state. */
  set(spec: EventSpec): RoomEvent {
    return this.put(this.event(spec))
  }

  /** Sets a membership: sent by the user for join/leave/knock, by the creator for invite/ban. */
  member(userId: string, membership: string, content: JsonObject = {}): RoomEvent {
    const self = membership === 'join' || membership === 'leave' || membership === 'knock'
    return this.set({ type: 'm.room.member', sender: self ? userId : this.creator, state_key: userId, content: { membership, ...content } })
  }

  check(spec: EventSpec, options?: CheckEventAuthOptions): AuthResult {
    return checkEventAuth(this.event(spec), this.state, this.version, options)
  }
}

export function assertAllowed(result: AuthResult, context = ''): void {
  assert.ok(result.allowed, `expected allowed${context ? ` (${context})` : ''}, refused: ${result.allowed ? '' : result.reason}`)
}

export function assertRefused(result: AuthResult, context = '', reason?: RegExp): void {
  assert.ok(!result.allowed, `expected refused${context ? ` (${context})` : ''}, but it was allowed`)
  if (reason && !result.allowed) assert.match(result.reason, reason)
}
