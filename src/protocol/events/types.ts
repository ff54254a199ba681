// Events as the protocol core sees them.

export type JsonObject = Record<string, unknown>

/** An event in its wire form (a PDU), as signed and hashed. Which keys appear depends on the room version. */
export type Pdu = JsonObject & {
  type: string
  sender: string
  content: JsonObject
  origin_server_ts: number
  depth: number
  prev_events: unknown[]
  auth_events: unknown[]
  room_id?: string
  state_key?: string
  redacts?: string
  hashes?: { sha256?: string } & JsonObject
  signatures?: Record<string, Record<string, string>>
  unsigned?: JsonObject
  event_id?: string
}

/**
 * The same event normalised for every room version: its ID computed (or read, in v1/v2), prev and auth
 * events as plain ID lists, and room_id filled in (v12 create events carry none: theirs is their own ID
 * with '!').
 */
export interface RoomEvent {
  event_id: string
  room_id: string
  type: string
  state_key?: string
  sender: string
  content: JsonObject
  origin_server_ts: number
  depth: number
  prev_events: string[]
  auth_events: string[]
  redacts?: string
  /** The wire form, kept for hashing, signing, redaction and federation. */
  pdu: Pdu
}

/** A state map key: `${type}\u0000${state_key}` (NUL cannot occur in either part). */
export type StateKey = string

export function stateKey(type: string, key: string): StateKey {
  return `${type}\u0000${key}`
}

export function splitStateKey(key: StateKey): [type: string, stateKey: string] {
  const i = key.indexOf('\u0000')
  return [key.slice(0, i), key.slice(i + 1)]
}

export function isState(event: { state_key?: string | undefined }): boolean {
  return typeof event.state_key === 'string'
}
