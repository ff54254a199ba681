// rooms/v2 "State resolution" (and v1, v12): the narrow store the algorithms read events through.
import type { RoomEvent } from '../events/types.ts'
import type { RoomVersion } from '../room-versions.ts'

/**
 * What state resolution needs from storage. Events it cannot find are simply absent from the returned
 * map; the algorithms then behave like Synapse (see the notes where each lookup happens).
 */
export interface StateResStore {
  /** The events with these IDs that the store holds, rejected ones included. */
  getEvents(ids: string[]): Promise<Map<string, RoomEvent>>
  /**
   * Optional acceleration (e.g. a chain cover index): the union of the auth chains of these events, i.e.
   * every event reachable through auth_events, not counting the given events themselves. In v12 the
   * create event named by the room ID counts as an auth event of every other event.
   */
  getAuthChainIds?(ids: string[]): Promise<Set<string>>
  /**
   * Optional: which of these events were rejected on receipt. Rejected events are never used as an
   * event's auth events during the iterative auth checks (rooms/v2, "Rejected events"). Without it no
   * event is treated as rejected.
   */
  getRejectedIds?(ids: string[]): Promise<Set<string>>
}

/** An event state resolution cannot do without (a state entry it must authorise against) is missing. */
export class MissingEventError extends Error {
  readonly eventId: string
  constructor(eventId: string) {
    super(`state resolution needs event ${eventId}, which the store does not hold`)
    this.name = 'MissingEventError'
    this.eventId = eventId
  }
}

/** The create event's ID implied by a v12 room ID: the room ID with '$' instead of '!'. */
export function createEventIdForRoom(roomId: string): string {
  return `$${roomId.slice(1)}`
}

/**
 * An event's auth events as state resolution walks them. In v12 the create event is not listed but the
 * room ID names it, so (like Synapse) it is added as an implicit auth event of every other event.
 */
export function authEventIds(event: RoomEvent, version: RoomVersion): string[] {
  if (!version.roomIdFromCreateEvent || event.type === 'm.room.create') return event.auth_events
  const create = createEventIdForRoom(event.room_id)
  return event.auth_events.includes(create) ? event.auth_events : [...event.auth_events, create]
}

/**
 * A per-resolution cache in front of the store: every lookup is batched, nothing is fetched twice, and
 * every event must belong to the same room (Synapse refuses to resolve across rooms too).
 */
export class EventCache {
  readonly store: StateResStore
  readonly version: RoomVersion
  private readonly events = new Map<string, RoomEvent | null>()
  private readonly rejected = new Set<string>()
  private roomId: string | undefined

  constructor(store: StateResStore, version: RoomVersion) {
    this.store = store
    this.version = version
  }

  /** Fetches, in one store call, whichever of these IDs have not been looked up yet. */
  async load(ids: Iterable<string>): Promise<void> {
    const wanted = [...new Set(ids)].filter((id) => !this.events.has(id))
    if (wanted.length === 0) return
    const [found, rejected] = await Promise.all([this.store.getEvents(wanted), this.store.getRejectedIds?.(wanted)])
    for (const id of wanted) {
      const event = found.get(id)
      if (event && event.event_id !== id) throw new Error(`store returned event ${event.event_id} for ${id}`)
      if (event) this.checkRoom(event)
      this.events.set(id, event ?? null)
      if (rejected?.has(id)) this.rejected.add(id)
    }
  }

  /** Loads these events and then their auth events, in two batches. */
  async loadWithAuthEvents(ids: Iterable<string>): Promise<void> {
    const list = [...ids]
    await this.load(list)
    await this.load(list.flatMap((id) => this.authIds(id)))
  }

  get(id: string): RoomEvent | undefined {
    return this.events.get(id) ?? undefined
  }

  require(id: string): RoomEvent {
    const event = this.events.get(id)
    if (!event) throw new MissingEventError(id)
    return event
  }

  isRejected(id: string): boolean {
    return this.rejected.has(id)
  }

  /** The (implicit-create-aware) auth event IDs of a loaded event; none if it is missing. */
  authIds(id: string): string[] {
    const event = this.get(id)
    return event ? authEventIds(event, this.version) : []
  }

  /** The loaded auth events of a loaded event, missing ones left out (Synapse logs and skips them). */
  authEvents(id: string): RoomEvent[] {
    return this.authIds(id).flatMap((a) => this.get(a) ?? [])
  }

  private checkRoom(event: RoomEvent): void {
    this.roomId ??= event.room_id
    if (event.room_id !== this.roomId) {
      throw new Error(`state resolution mixes rooms: ${event.event_id} is in ${event.room_id}, not ${this.roomId}`)
    }
  }
}
