// What an instance keeps of the rooms it sent to last, so that the next message to a room needs no reads
// (RoomWriter.claimKept, then open with `kept`): the room's single forward extremity, the auth state read so
// far and the prepare hooks' reads (the push context). Nothing of it is trusted: the transaction that uses it
// checks first, under the room's lock and in its BEGIN message, that the room and the push rules are
// unchanged (migration 0026, RoomsRepository.expectWriteState), and fails otherwise.
import type { RoomEvent, StateKey } from '../protocol/events/types.ts'
import type { RoomVersion } from '../protocol/room-versions.ts'
import type { EventTemplate, RoomWriteState } from './writer.ts'

/** What is kept of one room after a send. */
export interface KeptRoom {
  version: RoomVersion
  /** The single forward extremity (rooms with more are not kept): the next event's prev_events. */
  prev: RoomEvent
  /** The depth `prev` is ordered by here (RoomWriteState.prevOrderDepth). */
  prevOrderDepth: number | undefined
  stateGroup: number | null
  state: Map<StateKey, RoomEvent>
  /** The state keys read (those absent from `state` are known to be unset). */
  known: Set<StateKey>
  pushRulesVersion: number
  /** Each prepare hook's value, with the template it was read for. */
  prepared: Map<symbol, { template: EventTemplate; value: unknown }>
}

/** How many rooms an instance keeps (the most recently written first): a few KB each, at most ~KEPT_STATE_KEYS events. */
const KEPT_ROOMS = 1024
/** How many state keys a kept room gathers from earlier sends (each sender adds its member event). */
const KEPT_STATE_KEYS = 32

export class KeptRooms {
  private readonly rooms = new Map<string, KeptRoom>()

  /** What is kept of the room, if `covers` says it serves the event to append. */
  take(roomId: string, covers: (kept: KeptRoom) => boolean): KeptRoom | null {
    const kept = this.rooms.get(roomId)
    if (!kept || !covers(kept)) return null
    // The most recently used rooms are the last to go.
    this.rooms.delete(roomId)
    this.rooms.set(roomId, kept)
    return kept
  }

  /**
   * Keeps what a committed transaction knew of its room for the next send there: after one event that is
   * neither a state event nor a redaction (which may change the effect of a state event), when the room is
   * left with a single forward extremity and every one of the `preparers` prepare hooks read for it. The
   * state known before is kept too when the transaction started from the same room (it read other keys,
   * for another sender).
   */
  async remember(room: RoomWriteState, preparers: number): Promise<void> {
    const last = room.prev[0]
    const used = room.used
    if (!last || room.prev.length !== 1 || room.extremities.length !== 1 || !used || used.reads.size !== preparers) return this.forget(room.roomId)
    if (last.state_key !== undefined || last.type === 'm.room.redaction') return this.forget(room.roomId)
    const prepared = new Map<symbol, { template: EventTemplate; value: unknown }>()
    try {
      for (const [key, read] of used.reads) prepared.set(key, { template: used.template, value: await read })
    } catch {
      return this.forget(room.roomId)
    }
    const state = room.state
    const known = new Set(room.known)
    const before = this.rooms.get(room.roomId)
    const sameRoom =
      before !== undefined && !room.reused && room.openedFrom === before.prev.event_id && before.pushRulesVersion === room.pushRulesVersion && before.version === room.version
    // A room with many senders would keep every sender's member event: past a bound, only the latest ones.
    if (sameRoom && before.known.size < KEPT_STATE_KEYS) {
      for (const key of before.known) {
        if (known.has(key)) continue
        known.add(key)
        const event = before.state.get(key)
        if (event) state.set(key, event)
      }
    }
    this.rooms.delete(room.roomId)
    this.rooms.set(room.roomId, { version: room.version, prev: last, prevOrderDepth: room.prevOrderDepth, stateGroup: room.stateGroup, state, known, pushRulesVersion: room.pushRulesVersion, prepared })
    if (this.rooms.size > KEPT_ROOMS) this.rooms.delete(this.rooms.keys().next().value as string)
  }

  forget(roomId: string): void {
    this.rooms.delete(roomId)
  }
}
