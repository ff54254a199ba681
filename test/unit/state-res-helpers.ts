// Test DAGs for state resolution (rooms/v1, v2, v12 "State resolution"): events named by short names,
// state computed at each event the way a homeserver would, and a counting in-memory store.
import { splitStateKey, stateKey, type JsonObject, type Pdu, type RoomEvent, type StateKey } from '../../src/protocol/events/types.ts'
import { roomVersion, type RoomVersion } from '../../src/protocol/room-versions.ts'
import { authEventKeys, checkEventAuth } from '../../src/protocol/auth/index.ts'
import { resolveState, type StateResStore } from '../../src/protocol/state-res/index.ts'

export const ALICE = '@alice:example.com'
export const BOB = '@bob:example.com'
export const CHARLIE = '@charlie:example.com'
export const EVELYN = '@evelyn:example.com'
export const ZARA = '@zara:example.com'

/** Readable state keys: `${type}|${state_key}`. */
export const PL = 'm.room.power_levels|'
export const JR = 'm.room.join_rules|'
export const TOPIC = 'm.room.topic|'
export const NAME = 'm.room.name|'
export const CREATE = 'm.room.create|'
export function member(userId: string): string {
  return `m.room.member|${userId}`
}

export interface EventSpec {
  sender: string
  type: string
  state_key?: string
  content?: JsonObject
}

export interface CountingStore extends StateResStore {
  /** The ID lists of every getEvents call. */
  calls: string[][]
}

export class Dag {
  readonly version: RoomVersion
  readonly events = new Map<string, RoomEvent>()
  private readonly idsByName = new Map<string, string>()
  private readonly namesById = new Map<string, string>()
  private readonly stateAfter = new Map<string, Map<StateKey, string>>()
  private clock = 0
  roomId = '!room:example.com'

  constructor(versionId: string) {
    const version = roomVersion(versionId)
    if (!version) throw new Error(`unknown room version ${versionId}`)
    this.version = version
  }

  id(name: string): string {
    const id = this.idsByName.get(name)
    if (id) return id
    return this.version.eventFormat === 1 ? `$${name}:example.com` : `$${name}`
  }

  name(eventId: string): string {
    return this.namesById.get(eventId) ?? eventId
  }

  /** A power levels content: `users` as given plus, before v12, Alice (the creator) at 100. */
  pl(users: Record<string, number>, extra: JsonObject = {}): JsonObject {
    return { users: this.version.privilegedCreators ? users : { [ALICE]: 100, ...users }, ...extra }
  }

  /** Builds an event with explicit auth and prev events (names). The room ID's create event is dropped
   * from auth_events in v12, where it is implied. Timestamps count up unless given. */
  event(name: string, spec: EventSpec, links: { auth: string[]; prev: string[]; ts?: number }): RoomEvent {
    const eventId = this.id(name)
    const isCreate = spec.type === 'm.room.create'
    if (isCreate && this.version.roomIdFromCreateEvent) this.roomId = `!${eventId.slice(1)}`
    const createId = this.version.roomIdFromCreateEvent ? `$${this.roomId.slice(1)}` : undefined
    const auth = links.auth.map((n) => this.id(n)).filter((id) => id !== createId)
    const prev = links.prev.map((n) => this.id(n))
    const depth = Math.max(0, ...prev.map((id) => this.events.get(id)?.depth ?? 0)) + 1
    const ts = links.ts ?? this.clock
    this.clock = Math.max(this.clock, ts) + 1
    const pdu: Pdu = {
      type: spec.type,
      sender: spec.sender,
      content: spec.content ?? {},
      origin_server_ts: ts,
      depth,
      prev_events: prev,
      auth_events: auth,
    }
    if (!(isCreate && this.version.roomIdFromCreateEvent)) pdu.room_id = this.roomId
    if (spec.state_key !== undefined) pdu.state_key = spec.state_key
    if (this.version.eventFormat === 1) pdu.event_id = eventId
    const event: RoomEvent = {
      event_id: eventId,
      room_id: this.roomId,
      type: spec.type,
      sender: spec.sender,
      content: pdu.content,
      origin_server_ts: ts,
      depth,
      prev_events: prev,
      auth_events: auth,
      pdu,
    }
    if (spec.state_key !== undefined) event.state_key = spec.state_key
    this.events.set(eventId, event)
    this.idsByName.set(name, eventId)
    this.namesById.set(eventId, name)
    return event
  }

  /** Adds an event after `prev`, with the state before it resolved from theirs and its auth events
   * selected from that state, as a homeserver creating it would. */
  async add(name: string, spec: EventSpec, prev: string[], ts?: number): Promise<RoomEvent> {
    return this.addOnto(await this.resolveAt(prev), name, spec, prev, ts)
  }

  /** Like add, but only if the auth rules allow the event against the state before it (null otherwise), as a
   * homeserver would only send such events. */
  async addIfAllowed(name: string, spec: EventSpec, prev: string[], ts?: number): Promise<RoomEvent | null> {
    const before = await this.resolveAt(prev)
    const authState = new Map<StateKey, RoomEvent>()
    for (const [key, id] of before) authState.set(key, this.events.get(id) as RoomEvent)
    const pdu: Pdu = { type: spec.type, sender: spec.sender, content: spec.content ?? {}, origin_server_ts: ts ?? this.clock, depth: 1, prev_events: [], auth_events: [] }
    const candidate: RoomEvent = { ...pdu, event_id: this.id(name), room_id: this.roomId, prev_events: [], auth_events: [], pdu }
    if (spec.state_key !== undefined) candidate.state_key = spec.state_key
    if (!checkEventAuth(candidate, authState, this.version).allowed) return null
    return this.addOnto(before, name, spec, prev, ts)
  }

  private addOnto(before: Map<StateKey, string>, name: string, spec: EventSpec, prev: string[], ts?: number): RoomEvent {
    const auth = authEventKeys({ ...spec, content: spec.content ?? {} }, this.version).flatMap((key) => {
      const id = before.get(key)
      return id === undefined ? [] : [this.name(id)]
    })
    const event = this.event(name, spec, ts === undefined ? { auth, prev } : { auth, prev, ts })
    const after = new Map(before)
    if (spec.state_key !== undefined) after.set(stateKey(spec.type, spec.state_key), event.event_id)
    this.stateAfter.set(name, after)
    return event
  }

  /** The resolved state after all of `prev` (the state before an event citing them). */
  async resolveAt(prev: string[], store: StateResStore = this.store()): Promise<Map<StateKey, string>> {
    return resolveState(this.version, this.stateSets(prev), store)
  }

  stateSets(prev: string[]): Map<StateKey, string>[] {
    return prev.map((n) => {
      const state = this.stateAfter.get(n)
      if (!state) throw new Error(`no state after ${n}`)
      return state
    })
  }

  /** A state map made of the named events. */
  stateOf(names: string[]): Map<StateKey, string> {
    const state = new Map<StateKey, string>()
    for (const n of names) {
      const event = this.events.get(this.id(n))
      if (!event || event.state_key === undefined) throw new Error(`${n} is not a state event`)
      state.set(stateKey(event.type, event.state_key), event.event_id)
    }
    return state
  }

  /** A state map as { 'type|state_key': name }. */
  named(state: ReadonlyMap<StateKey, string>): Record<string, string> {
    const out: Record<string, string> = {}
    for (const [key, id] of [...state].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const [type, sk] = splitStateKey(key)
      out[`${type}|${sk}`] = this.name(id)
    }
    return out
  }

  /** The entries of `state` that differ from the state after `base` (null: the key is gone). */
  changes(base: string, state: ReadonlyMap<StateKey, string>): Record<string, string | null> {
    const from = this.named(this.stateSets([base])[0] as Map<StateKey, string>)
    const to = this.named(state)
    const out: Record<string, string | null> = {}
    for (const key of new Set([...Object.keys(from), ...Object.keys(to)])) {
      if (from[key] !== to[key]) out[key] = to[key] ?? null
    }
    return out
  }

  /** `missing`: events the store lacks; `rejected`: events it reports as rejected on receipt. */
  store(options: { missing?: string[]; accelerate?: boolean; rejected?: string[] } = {}): CountingStore {
    const missing = new Set((options.missing ?? []).map((n) => this.id(n)))
    const rejected = new Set((options.rejected ?? []).map((n) => this.id(n)))
    const calls: string[][] = []
    const store: CountingStore = {
      calls,
      getEvents: async (ids) => {
        calls.push(ids)
        const found = new Map<string, RoomEvent>()
        for (const id of ids) {
          const event = this.events.get(id)
          if (event && !missing.has(id)) found.set(id, event)
        }
        return found
      },
    }
    if (options.accelerate) store.getAuthChainIds = async (ids) => this.authChain(ids)
    if (rejected.size > 0) store.getRejectedIds = async (ids) => new Set(ids.filter((id) => rejected.has(id)))
    return store
  }

  /** The union of the auth chains of these events (v12: the create event counts as an auth event). */
  authChain(ids: Iterable<string>): Set<string> {
    const chain = new Set<string>()
    const createId = this.version.roomIdFromCreateEvent ? `$${this.roomId.slice(1)}` : undefined
    const authOf = (id: string): string[] => {
      const event = this.events.get(id)
      if (!event) return []
      return createId && event.event_id !== createId ? [...event.auth_events, createId] : event.auth_events
    }
    const stack = [...ids].flatMap(authOf)
    while (stack.length > 0) {
      const id = stack.pop() as string
      if (chain.has(id)) continue
      chain.add(id)
      stack.push(...authOf(id))
    }
    return chain
  }

  /**
   * The room Synapse's state resolution tests start from, as a chain: CREATE, IMA (Alice joins),
   * IPOWER (Alice at 100), IJR (public), IMB, IMC, IMZ (Bob, Charlie, Zara join), START (a message).
   */
  async init(): Promise<void> {
    const createContent: JsonObject = this.version.implicitRoomCreator ? { room_version: this.version.id } : { creator: ALICE }
    await this.add('CREATE', { sender: ALICE, type: 'm.room.create', state_key: '', content: createContent }, [])
    await this.add('IMA', join(ALICE), ['CREATE'])
    await this.add('IPOWER', { sender: ALICE, type: 'm.room.power_levels', state_key: '', content: this.pl({}) }, ['IMA'])
    await this.add('IJR', { sender: ALICE, type: 'm.room.join_rules', state_key: '', content: { join_rule: 'public' } }, ['IPOWER'])
    await this.add('IMB', join(BOB), ['IJR'])
    await this.add('IMC', join(CHARLIE), ['IMB'])
    await this.add('IMZ', join(ZARA), ['IMC'])
    await this.add('START', { sender: ZARA, type: 'm.room.message', content: { body: 'start' } }, ['IMZ'])
  }
}

export function join(userId: string): EventSpec {
  return { sender: userId, type: 'm.room.member', state_key: userId, content: { membership: 'join' } }
}

export function membership(sender: string, target: string, value: string): EventSpec {
  return { sender, type: 'm.room.member', state_key: target, content: { membership: value } }
}

export function topic(sender: string, text = 'topic'): EventSpec {
  return { sender, type: 'm.room.topic', state_key: '', content: { topic: text } }
}

export function joinRules(sender: string, rule: string): EventSpec {
  return { sender, type: 'm.room.join_rules', state_key: '', content: { join_rule: rule } }
}

export function powerLevels(sender: string, content: JsonObject): EventSpec {
  return { sender, type: 'm.room.power_levels', state_key: '', content }
}

/** Every ordering of a list (for small lists). */
export function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]]
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]))
}
