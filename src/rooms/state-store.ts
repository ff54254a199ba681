// The database behind state resolution and the auth checks of remote events: a room's stored events, whatever
// they are (timeline, outlier, soft-failed or rejected), read in batches and parsed once per transaction.
import type { RoomEvent, StateKey } from '../protocol/events/types.ts'
import { splitStateKey, stateKey } from '../protocol/events/types.ts'
import type { RoomVersion } from '../protocol/room-versions.ts'
import type { StateResStore } from '../protocol/state-res/index.ts'
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
