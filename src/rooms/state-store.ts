// The database behind state resolution and the auth checks of remote events: a room's stored events, whatever
// they are (timeline, outlier, soft-failed or rejected), read in batches and parsed once per transaction; and
// what is read of the stored DAG (the state before an event, auth chains) and done to state maps.
import type { RoomEvent, StateKey } from '../protocol/events/types.ts'
import { splitStateKey, stateKey } from '../protocol/events/types.ts'
import { roomVersion, type RoomVersion } from '../protocol/room-versions.ts'
import { authEventIds, type StateResStore } from '../protocol/state-res/index.ts'
import type { Repositories, StateEntry } from '../storage/index.ts'
import { parseStored } from './writer.ts'

/** A state map: stateKey(type, state_key) → event ID. */
export type StateIds = Map<StateKey, string>

export function stateIdsOf(entries: readonly StateEntry[]): StateIds {
  return new Map(entries.map((e) => [stateKey(e.type, e.state_key), e.event_id]))
}

export function entriesOf(state: ReadonlyMap<StateKey, string>): StateEntry[] {
  return [...state].map(([key, eventId]) => {
    const [type, key2] = splitStateKey(key)
    return { type, state_key: key2, event_id: eventId }
  })
}

export class StoredEvents implements StateResStore {
  private readonly repos: Repositories
  private readonly roomId: string
  private readonly version: RoomVersion
  private readonly loaded = new Map<string, { event: RoomEvent; rejected: boolean } | null>()

  constructor(repos: Repositories, roomId: string, version: RoomVersion) {
    this.repos = repos
    this.roomId = roomId
    this.version = version
  }

  /** Keeps events known without reading them (those being stored in the same transaction). */
  add(event: RoomEvent, rejected = false): void {
    this.loaded.set(event.event_id, { event, rejected })
  }

  private async load(ids: Iterable<string>): Promise<void> {
    const wanted = [...new Set(ids)].filter((id) => !this.loaded.has(id))
    if (wanted.length === 0) return
    for (const id of wanted) this.loaded.set(id, null)
    for (const row of await this.repos.events.pdus(this.roomId, wanted)) {
      this.loaded.set(row.event_id, { event: parseStored(row.json, this.version, row.event_id), rejected: row.rejected })
    }
  }

  async getEvents(ids: string[]): Promise<Map<string, RoomEvent>> {
    await this.load(ids)
    const out = new Map<string, RoomEvent>()
    for (const id of ids) {
      const found = this.loaded.get(id)
      if (found) out.set(id, found.event)
    }
    return out
  }

  async getRejectedIds(ids: string[]): Promise<Set<string>> {
    await this.load(ids)
    return new Set(ids.filter((id) => this.loaded.get(id)?.rejected === true))
  }

  /** The events of a state map's entries, by state key (entries the store lacks are left out). */
  async stateEvents(state: ReadonlyMap<StateKey, string>): Promise<Map<StateKey, RoomEvent>> {
    const events = await this.getEvents([...state.values()])
    const out = new Map<StateKey, RoomEvent>()
    for (const [key, id] of state) {
      const event = events.get(id)
      if (event) out.set(key, event)
    }
    return out
  }
}

/**
 * The room's state before one of its timeline events: the state after it, with the entry it replaced in
 * place of its own. Null when the event is not in the room's timeline.
 */
export async function stateBeforeEvent(repos: Repositories, roomId: string, eventId: string): Promise<RoomEvent[] | null> {
  const [room, row, status] = await Promise.all([repos.rooms.get(roomId), repos.events.get(roomId, eventId), repos.events.statusOf(roomId, [eventId])])
  const group = status.get(eventId)?.state_group
  const version = room && roomVersion(room.room_version)
  if (!version || !row || group == null) return null
  const state = stateIdsOf((await repos.state.groupStates(roomId, [group])).get(group) ?? [])
  if (row.state_key !== null) {
    const own = stateKey(row.type, row.state_key)
    if (row.replaces_state === null) state.delete(own)
    else state.set(own, row.replaces_state)
  }
  const events = await new StoredEvents(repos, roomId, version).getEvents([...state.values()])
  return [...state.values()].flatMap((id) => events.get(id) ?? [])
}

/** The entries of `state` under these (type, state_key) pairs. */
export function pick(state: StateIds, keys: Array<[string, string]>): StateIds {
  const out: StateIds = new Map()
  for (const [type, key] of keys) {
    const id = state.get(stateKey(type, key))
    if (id !== undefined) out.set(stateKey(type, key), id)
  }
  return out
}

/** What turns state `from` into state `to`. */
export function diff(from: StateIds, to: StateIds): { upserts: StateEntry[]; removed: Array<[string, string]> } {
  const upserts: StateEntry[] = []
  const removed: Array<[string, string]> = []
  for (const [key, id] of to) {
    if (from.get(key) === id) continue
    const [type, stateKeyPart] = splitStateKey(key)
    upserts.push({ type, state_key: stateKeyPart, event_id: id })
  }
  for (const key of from.keys()) if (!to.has(key)) removed.push(splitStateKey(key))
  return { upserts, removed }
}

/** The batch in an order where every event comes after those of its auth events in the batch. */
export function authOrder(batch: Map<string, RoomEvent>, version: RoomVersion): RoomEvent[] {
  const out: RoomEvent[] = []
  const done = new Set<string>()
  for (const start of batch.values()) {
    if (done.has(start.event_id)) continue
    // Iterative depth-first walk: an auth chain can be long.
    const stack: Array<{ event: RoomEvent; next: number }> = [{ event: start, next: 0 }]
    done.add(start.event_id)
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { event: RoomEvent; next: number }
      const ids = authEventIds(top.event, version)
      if (top.next < ids.length) {
        const child = batch.get(ids[top.next++] as string)
        if (child && !done.has(child.event_id)) {
          done.add(child.event_id)
          stack.push({ event: child, next: 0 })
        }
        continue
      }
      out.push(top.event)
      stack.pop()
    }
  }
  return out
}
