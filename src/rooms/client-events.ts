// Events as clients see them (client-server API, "Room Event Format"): the wire form reduced to the
// client fields, with unsigned data: age, transaction_id for the sending device, prev_content of
// replaced state, redacted_because.
import type { JsonObject } from '../protocol/events/types.ts'
import { isObject } from '../protocol/auth/room-state.ts'
import type { EventRow, Repositories } from '../storage/index.ts'
import { addBundledAggregations, type BundleOptions } from './relations.ts'

export interface ClientEvent {
  content: JsonObject
  event_id: string
  origin_server_ts: number
  /** Absent in /sync, whose rooms are keyed by ID (ClientEventWithoutRoomID). */
  room_id?: string
  sender: string
  type: string
  state_key?: string
  redacts?: string
  unsigned?: JsonObject
}

export interface Viewer {
  userId: string
  deviceId: string | null
}

/** The viewer an authenticated request formats events for. */
export function viewerOf(requester: { userId: string; deviceId: string }): Viewer {
  return { userId: requester.userId, deviceId: requester.deviceId }
}

/** How events are formatted beyond their fields. */
export interface FormatOptions {
  /** False in /sync: the room is the key events are listed under. */
  roomId: boolean
  /** The viewer's device's transaction IDs of these events, when known (else read). */
  txnIds?: Map<string, string>
  /** The filter's event_format "federation": the whole event as servers exchange it (with room_id), plus event_id and unsigned. */
  federation?: boolean
}

const WITH_ROOM_ID: FormatOptions = { roomId: true }

function baseEvent(row: EventRow, pdu: JsonObject = JSON.parse(row.json) as JsonObject, withRoomId = true): ClientEvent {
  const content = (pdu.content ?? {}) as JsonObject
  const event: ClientEvent = withRoomId
    ? { content, event_id: row.event_id, origin_server_ts: Number(pdu.origin_server_ts), room_id: row.room_id, sender: row.sender, type: row.type }
    : { content, event_id: row.event_id, origin_server_ts: Number(pdu.origin_server_ts), sender: row.sender, type: row.type }
  if (row.state_key !== null) event.state_key = row.state_key
  // Redaction events carry `redacts` at the top level before room version 11 and in content from 11 on;
  // clients find it in both places.
  const redacts = typeof pdu.redacts === 'string' ? pdu.redacts : typeof content.redacts === 'string' ? content.redacts : undefined
  if (row.type === 'm.room.redaction' && redacts) event.redacts = redacts
  return event
}

/** Formats rows for a viewer, fetching what their unsigned data refers to in three batched queries. */
export async function toClientEvents(
  repos: Repositories,
  rows: EventRow[],
  viewer: Viewer,
  now: number,
  bundle?: BundleOptions,
  format: FormatOptions = WITH_ROOM_ID,
): Promise<ClientEvent[]> {
  if (rows.length === 0) return []
  const replaced = rows.map((r) => r.replaces_state).filter((id): id is string => id !== null)
  const redactions = rows.map((r) => r.redacted_by).filter((id): id is string => id !== null)
  const own = rows.filter((r) => r.sender === viewer.userId).map((r) => r.event_id)
  const [referenced, txns] = await Promise.all([
    repos.events.getByIds([...new Set([...replaced, ...redactions])]),
    viewer.deviceId ? (format.txnIds ?? repos.events.txnIds(viewer.userId, viewer.deviceId, own)) : Promise.resolve(new Map<string, string>()),
  ])
  const byId = new Map(referenced.map((r) => [r.event_id, r]))
  const events = rows.map((row) => {
    const pdu = JSON.parse(row.json) as JsonObject
    let event = baseEvent(row, pdu, format.roomId)
    if (format.federation) {
      const { unsigned: _, ...rest } = pdu
      event = { ...rest, event_id: row.event_id } as unknown as ClientEvent
    }
    const unsigned: JsonObject = { age: Math.max(0, now - Number(pdu.origin_server_ts)) }
    const txn = txns.get(row.event_id)
    if (txn !== undefined) unsigned.transaction_id = txn
    if (row.replaces_state) {
      const prev = byId.get(row.replaces_state)
      unsigned.replaces_state = row.replaces_state
      if (prev) {
        const prevEvent = baseEvent(prev)
        unsigned.prev_content = prevEvent.content
        unsigned.prev_sender = prevEvent.sender
      }
    }
    if (row.redacted_by) {
      // The redaction's ID as well as the redaction itself, as clients written for other servers read it.
      unsigned.redacted_by = row.redacted_by
      const redaction = byId.get(row.redacted_by)
      if (redaction) unsigned.redacted_because = baseEvent(redaction)
    }
    event.unsigned = unsigned
    return event
  })
  await addBundledAggregations(repos, rows, events, viewer, now, bundle)
  return events
}

/**
 * An event as the legacy endpoints (/events, /initialSync) serve it: their clients read the sender as
 * `user_id`, and a presence event's user in its content as well.
 */
export function legacyEvent<T extends { sender?: unknown; type?: unknown; content?: unknown }>(event: T): T & { user_id?: unknown } {
  if (event.sender === undefined) return event
  const out: T & { user_id?: unknown } = { ...event, user_id: event.sender }
  if (event.type === 'm.presence') out.content = { ...(event.content as object), user_id: event.sender }
  return out
}

/** The state shown, stripped, to invitees and knockers: what names and describes the room. */
export const STRIPPED_STATE_TYPES = ['m.room.create', 'm.room.join_rules', 'm.room.name', 'm.room.avatar', 'm.room.canonical_alias', 'm.room.encryption', 'm.room.topic']

/** The stripped form of state events shared with invitees and knockers. */
export function strippedState(row: EventRow): JsonObject {
  const e = baseEvent(row)
  return { type: e.type, state_key: e.state_key ?? '', sender: e.sender, content: e.content }
}

/** At most this many stripped state events kept with an invite, each at most this big. */
const MAX_INVITE_STATE = 50
const MAX_STRIPPED_BYTES = 16 * 1024

/**
 * Stripped state another server sent (an invite's invite_room_state, a knock's knock_room_state) as it is
 * kept and shown: well-formed events only, at most one per (type, key), bounded in count and size.
 */
export function strippedStateOf(value: unknown): JsonObject[] {
  if (!Array.isArray(value)) return []
  const seen = new Set<string>()
  const out: JsonObject[] = []
  for (const e of value.slice(0, MAX_INVITE_STATE * 2)) {
    if (!isObject(e) || typeof e.type !== 'string' || typeof e.state_key !== 'string' || typeof e.sender !== 'string' || !isObject(e.content)) continue
    const key = `${e.type}\u0000${e.state_key}`
    if (seen.has(key) || Buffer.byteLength(JSON.stringify(e)) > MAX_STRIPPED_BYTES) continue
    seen.add(key)
    out.push({ type: e.type, state_key: e.state_key, sender: e.sender, content: e.content })
    if (out.length === MAX_INVITE_STATE) break
  }
  return out
}
