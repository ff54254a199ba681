// Who may administer a room: a user's membership and power in its current state, for the checks the
// directory endpoints make before they act (the auth rules themselves run in the RoomWriter).
import { requiredPowerLevel, userPowerLevel } from '../protocol/auth/index.ts'
import { stateKey, type RoomEvent, type StateKey } from '../protocol/events/types.ts'
import { roomVersion, type RoomVersion } from '../protocol/room-versions.ts'
import { parseStored } from '../rooms/writer.ts'
import type { Repositories } from '../storage/index.ts'

export interface RoomAuthView {
  version: RoomVersion
  state: Map<StateKey, RoomEvent>
  membership: string | null
}

/** The create, power levels and user's member events of a room; null when this server does not have the room. */
export async function authView(repos: Repositories, roomId: string, userId: string): Promise<RoomAuthView | null> {
  const room = await repos.rooms.get(roomId)
  const version = room ? roomVersion(room.room_version) : undefined
  if (!room || !version) return null
  const rows = await repos.state.currentEvents(roomId, [
    ['m.room.create', ''],
    ['m.room.power_levels', ''],
    ['m.room.member', userId],
  ])
  const state = new Map(rows.map((r) => [stateKey(r.type, r.state_key), parseStored(r.json, version)]))
  const membership = state.get(stateKey('m.room.member', userId))?.content.membership
  return { version, state, membership: typeof membership === 'string' ? membership : null }
}

/** Whether `userId` has the power to send a state event of `type` (membership is checked separately). */
export function canSendState(view: RoomAuthView, userId: string, type: string): boolean {
  const levels = view.state.get(stateKey('m.room.power_levels', ''))?.content
  return userPowerLevel(userId, view.state, view.version) >= requiredPowerLevel(type, true, levels, view.version)
}
