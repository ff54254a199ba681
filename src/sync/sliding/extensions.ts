// Sliding sync extensions (MSC4186 with MSC3885 to_device, MSC3884 e2ee, MSC3959 account_data, MSC3960
// receipts, MSC3961 typing): what a simplified sliding sync response carries beside its lists and rooms.
// Each extension reads its stream range (since, upTo] in a few queries over all the rooms it covers, never
// one per room; to_device keeps its own position, independent of the connection's pos.
import { TO_DEVICE_SYNC_LIMIT } from '../../e2ee/to-device.ts'
import { MAX_KIND_CHECK_RANGE } from '../sync.ts'
import { invalid } from './request.ts'
import type { JsonObject } from '../../protocol/events/types.ts'
import { MatrixError } from '../../shared/errors.ts'
import type { Storage } from '../../storage/index.ts'
import type { Requester } from '../../users/index.ts'
import type { SyncSources } from '../sync.ts'

export interface ExtensionConfig {
  enabled?: boolean
  lists?: string[]
  rooms?: string[]
  since?: string
  limit?: number
}
/** Only the extensions Homestead knows are kept. */
export type ExtensionsRequest = Record<string, ExtensionConfig>

export interface ExtensionScope {
  /** Each list of the request: the room IDs within its ranges in this response. */
  lists: Map<string, string[]>
  /** Room IDs with an active room subscription on the connection. */
  subscriptions: string[]
  /** Rooms in this response's `rooms`: whether sent whole (initial) and the user's membership. */
  rooms: Map<string, { initial: boolean; membership: string }>
}

export interface ExtensionsInput {
  storage: Storage
  sources: SyncSources
  requester: Requester
  /** The stream position the request's pos stands for; null on the first request of a connection. */
  since: number | null
  /** The position this response covers up to (every write below it committed). */
  upTo: number
  scope: ExtensionScope
  /** The extension configs in effect (sticky values from earlier requests of the connection merged in). */
  config: ExtensionsRequest
}

export interface ExtensionsResult {
  extensions: Record<string, object>
  /** Whether there is something worth ending a long-poll for; key counts alone are not. */
  hasData: boolean
}

/** The extensions Homestead serves; the room-bound ones take `lists` and `rooms`. */
const ROOM_BOUND = new Set(['account_data', 'receipts', 'typing'])
const KNOWN = new Set(['to_device', 'e2ee', ...ROOM_BOUND])

/** The most entries an extension's `lists` or `rooms` may name, and the longest entry (a room ID's bound). */
const MAX_SCOPE_ENTRIES = 100
const MAX_SCOPE_ENTRY_LENGTH = 255
/** The largest to_device `limit` accepted; a response carries at most TO_DEVICE_PER_RESPONSE messages. */
const MAX_TO_DEVICE_LIMIT = 1000
const TO_DEVICE_PER_RESPONSE = TO_DEVICE_SYNC_LIMIT
/** Receipts sent for a room the response sends whole, besides the user's own: the most recent ones. */
const INITIAL_RECEIPTS_PER_ROOM = 100


function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A field sent with a value: null counts as left out, as an optional field of the request. */
function given(value: unknown): boolean {
  return value !== undefined && value !== null
}

function scopeEntries(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) throw invalid(`${what} must be an array of strings`)
  if (value.length > MAX_SCOPE_ENTRIES) throw invalid(`${what} may name at most ${MAX_SCOPE_ENTRIES} entries`)
  for (const entry of value) {
    if (typeof entry !== 'string' || entry.length === 0 || entry.length > MAX_SCOPE_ENTRY_LENGTH) {
      throw invalid(`${what} must hold non-empty strings of at most ${MAX_SCOPE_ENTRY_LENGTH} characters`)
    }
  }
  return [...value] as string[]
}

/** Validates the request's `extensions` object (undefined → {}); unknown extension names are ignored. */
export function parseExtensions(body: unknown): ExtensionsRequest {
  if (body === undefined || body === null) return {}
  if (!isObject(body)) throw invalid('extensions must be an object')
  const out: ExtensionsRequest = {}
  for (const name of KNOWN) {
    const value = body[name]
    if (!given(value)) continue
    if (!isObject(value)) throw invalid(`extensions.${name} must be an object`)
    const config: ExtensionConfig = {}
    if (given(value.enabled)) {
      if (typeof value.enabled !== 'boolean') throw invalid(`extensions.${name}.enabled must be a boolean`)
      config.enabled = value.enabled
    }
    if (ROOM_BOUND.has(name)) {
      if (given(value.lists)) config.lists = scopeEntries(value.lists, `extensions.${name}.lists`)
      if (given(value.rooms)) config.rooms = scopeEntries(value.rooms, `extensions.${name}.rooms`)
    }
    if (name === 'to_device') {
      if (given(value.since)) {
        if (typeof value.since !== 'string' || !/^[0-9]{1,16}$/.test(value.since) || !Number.isSafeInteger(Number(value.since))) {
          throw invalid('extensions.to_device.since must be a next_batch from an earlier response')
        }
        config.since = value.since
      }
      if (given(value.limit)) {
        if (typeof value.limit !== 'number' || !Number.isInteger(value.limit) || value.limit < 1 || value.limit > MAX_TO_DEVICE_LIMIT) {
          throw invalid(`extensions.to_device.limit must be an integer from 1 to ${MAX_TO_DEVICE_LIMIT}`)
        }
        config.limit = value.limit
      }
    }
    out[name] = config
  }
  return out
}

/** The rooms a room-bound extension covers: those of the lists and the room subscriptions it names ("*": all). */
function roomsInScope(config: ExtensionConfig, scope: ExtensionScope): Set<string> {
  const out = new Set<string>()
  const lists = config.lists ?? ['*']
  const names = lists.includes('*') ? [...scope.lists.keys()] : lists
  for (const name of names) for (const roomId of scope.lists.get(name) ?? []) out.add(roomId)
  const rooms = config.rooms ?? ['*']
  if (rooms.includes('*')) for (const roomId of scope.subscriptions) out.add(roomId)
  else {
    const subscribed = new Set(scope.subscriptions)
    for (const roomId of rooms) if (subscribed.has(roomId)) out.add(roomId)
  }
  return out
}

/** Which kinds of change the stream shows in (since, upTo]; null when unknown (then everything is read). */
async function kindsChanged(input: ExtensionsInput): Promise<Set<string> | null> {
  const { since, upTo } = input
  if (since === null || upTo - since > MAX_KIND_CHECK_RANGE) return null
  if (upTo <= since) return new Set()
  const inRange = await input.storage.repos.stream.kindsInRange(since, upTo)
  return inRange.complete ? inRange.kinds : null
}

type Changed = (kind: string) => boolean

export async function buildExtensions(input: ExtensionsInput): Promise<ExtensionsResult> {
  const enabled = (name: string) => input.config[name]?.enabled === true
  if (![...KNOWN].some(enabled)) return { extensions: {}, hasData: false }
  const kinds = await kindsChanged(input)
  const changed: Changed = (kind) => kinds === null || kinds.has(kind)

  const parts: Array<Promise<[string, object, boolean]>> = []
  if (enabled('to_device')) parts.push(toDevice(input, input.config.to_device as ExtensionConfig, changed).then((r) => ['to_device', r, r.events.length > 0]))
  if (enabled('e2ee')) parts.push(e2ee(input, changed).then((r) => ['e2ee', r, (r.device_lists?.changed.length ?? 0) + (r.device_lists?.left.length ?? 0) > 0]))
  if (enabled('account_data')) {
    parts.push(accountData(input, input.config.account_data as ExtensionConfig, changed).then((r) => ['account_data', r, r.global.length > 0 || r.rooms !== undefined]))
  }
  if (enabled('receipts') || enabled('typing')) {
    const ephemeral = ephemeralExtensions(input, changed)
    if (enabled('receipts')) parts.push(ephemeral.then((r) => ['receipts', r.receipts, r.receipts.rooms !== undefined]))
    if (enabled('typing')) parts.push(ephemeral.then((r) => ['typing', r.typing, r.typing.rooms !== undefined]))
  }
  const extensions: Record<string, object> = {}
  let hasData = false
  for (const [name, value, data] of await Promise.all(parts)) {
    extensions[name] = value
    hasData ||= data
  }
  return { extensions, hasData }
}

/**
 * The device's to-device messages after the `since` the client sent back (MSC3885), oldest first: those up
 * to it were received and are deleted now, as /sync deletes what its token acknowledges. next_batch is the
 * last message sent when the limit cut the batch short, else upTo (everything below it was read).
 */
async function toDevice(input: ExtensionsInput, config: ExtensionConfig, changed: Changed): Promise<{ next_batch: string; events: object[] }> {
  const { userId, deviceId } = input.requester
  const repos = input.storage.repos
  const after = config.since === undefined ? 0 : Number(config.since)
  if (config.since !== undefined) await repos.toDevice.acknowledge(userId, deviceId, after)
  // A since from an instance further along, or nothing new since the pos this client already read up to.
  if (after >= input.upTo) return { next_batch: String(after), events: [] }
  if (input.since !== null && after >= input.since && !changed('to_device')) return { next_batch: String(input.upTo), events: [] }
  const limit = Math.min(config.limit ?? TO_DEVICE_PER_RESPONSE, TO_DEVICE_PER_RESPONSE)
  const rows = await repos.toDevice.pending(userId, deviceId, after, input.upTo, limit)
  const next = rows.length === limit ? (rows.at(-1)?.position ?? input.upTo) : input.upTo
  return {
    next_batch: String(next),
    events: rows.map((r) => ({ sender: r.sender, type: r.type, content: JSON.parse(r.content) as JsonObject })),
  }
}

interface E2eeExtension {
  device_lists?: { changed: string[]; left: string[] }
  device_one_time_keys_count: Record<string, number>
  device_unused_fallback_key_types: string[]
}

/** The device's key counts, and on an incremental request whose keys changed among the users it shares rooms with (MSC3884). */
async function e2ee(input: ExtensionsInput, changed: Changed): Promise<E2eeExtension> {
  const source = input.sources.e2ee
  const { since, upTo } = input
  const { userId, deviceId } = input.requester
  const noLists = { changed: [], left: [] }
  if (!source) return { ...(since !== null ? { device_lists: noLists } : {}), device_one_time_keys_count: {}, device_unused_fallback_key_types: [] }
  // Device lists change with keys and with memberships, not with ordinary messages.
  const listsChanged = since !== null && (changed('device_list') || changed('member'))
  const [deviceLists, counts] = await Promise.all([
    listsChanged ? source.deviceLists(userId, since, upTo, changed('device_list')) : null,
    source.keyCounts(userId, deviceId),
  ])
  return { ...(since !== null ? { device_lists: deviceLists ?? noLists } : {}), ...counts }
}

interface AccountDataExtension {
  global: JsonObject[]
  rooms?: Record<string, JsonObject[]>
}

/**
 * The user's account data (MSC3959). The first request of a connection gets all of it: the global account data
 * (with the push rules when no m.push_rules is stored yet, as an initial /sync does) and that of the rooms in
 * scope. Later requests get what changed in (since, upTo], and all of it for rooms in scope that this response
 * sends whole (a room coming into view).
 */
async function accountData(input: ExtensionsInput, config: ExtensionConfig, changed: Changed): Promise<AccountDataExtension> {
  const repos = input.storage.repos
  const { userId } = input.requester
  const { since, upTo } = input
  const inScope = roomsInScope(config, input.scope)
  const whole = new Set([...inScope].filter((roomId) => since === null || input.scope.rooms.get(roomId)?.initial === true))
  const pushRules = since === null && input.sources.pushRules ? input.sources.pushRules(userId) : null
  pushRules?.catch(() => {})
  const [recent, all] = await Promise.all([
    since !== null && changed('account_data') ? repos.accountData.changed(userId, since, upTo) : [],
    since === null || whole.size > 0 ? repos.accountData.changed(userId, 0, upTo) : [],
  ])
  const global: JsonObject[] = []
  const rooms: Record<string, JsonObject[]> = {}
  const add = (row: { room_id: string; type: string; content: JsonObject }) => {
    const event = { type: row.type, content: row.content }
    if (row.room_id === '') global.push(event)
    else (rooms[row.room_id] ??= []).push(event)
  }
  for (const row of all) if (row.room_id === '' ? since === null : whole.has(row.room_id)) add(row)
  for (const row of recent) if (row.room_id === '' || (inScope.has(row.room_id) && !whole.has(row.room_id))) add(row)
  if (pushRules && !global.some((e) => e.type === 'm.push_rules')) global.push({ type: 'm.push_rules', content: { global: await pushRules } })
  return { global, ...(Object.keys(rooms).length > 0 ? { rooms } : {}) }
}

type RoomEvents = { rooms?: Record<string, JsonObject> }

/**
 * Typing (MSC3961) and receipts (MSC3960) of the joined rooms each covers. A room in range gets what changed in
 * (since, upTo]; a room the response sends whole (every room on a connection's first request) gets who is typing
 * now, the user's own receipts and the room's most recent other ones (not every member's, which grows with the
 * room). The rooms' scopes are checked against the user's memberships: nothing of a room it is only invited to.
 */
async function ephemeralExtensions(input: ExtensionsInput, changed: Changed): Promise<{ receipts: RoomEvents; typing: RoomEvents }> {
  const { config, scope, since, upTo, requester } = input
  const receiptRooms = config.receipts?.enabled === true ? roomsInScope(config.receipts, scope) : new Set<string>()
  const typingRooms = config.typing?.enabled === true ? roomsInScope(config.typing, scope) : new Set<string>()
  const joined = await joinedOf(input, [...new Set([...receiptRooms, ...typingRooms])])
  const whole = joined.filter((roomId) => since === null || scope.rooms.get(roomId)?.initial === true)
  const wholeSet = new Set(whole)
  const live = joined.filter((roomId) => !wholeSet.has(roomId))
  const [liveEvents, wholeEvents] = await Promise.all([
    live.length > 0 && (changed('typing') || changed('receipt')) ? input.sources.ephemeral(requester, live, since, upTo) : new Map<string, JsonObject[]>(),
    whole.length > 0 ? input.sources.ephemeral(requester, whole, null, upTo) : new Map<string, JsonObject[]>(),
  ])
  const receipts: Record<string, JsonObject> = {}
  const typing: Record<string, JsonObject> = {}
  for (const [events, initial] of [[liveEvents, false], [wholeEvents, true]] as const) {
    for (const [roomId, list] of events) {
      for (const event of list) {
        if (event.type === 'm.typing' && typingRooms.has(roomId)) {
          // A connection's first response need not say that nobody types; a room sent whole again later does
          // (the client may still show typing that stopped while the room was out of view).
          const nobody = (event.content as { user_ids: string[] }).user_ids.length === 0
          if (!(nobody && since === null)) typing[roomId] = event
        }
        if (event.type === 'm.receipt' && receiptRooms.has(roomId)) {
          const content = initial ? recentReceipts(event.content as ReceiptContent, requester.userId) : (event.content as ReceiptContent)
          if (Object.keys(content).length > 0) receipts[roomId] = { type: 'm.receipt', content }
        }
      }
    }
  }
  const rooms = (map: Record<string, JsonObject>): RoomEvents => (Object.keys(map).length > 0 ? { rooms: map } : {})
  return { receipts: rooms(receipts), typing: rooms(typing) }
}

/** Of these rooms, those the user is joined to: known from the response's rooms, else read (one query). */
async function joinedOf(input: ExtensionsInput, roomIds: string[]): Promise<string[]> {
  const unknown = roomIds.filter((roomId) => !input.scope.rooms.has(roomId))
  const read = await input.storage.repos.memberships.joinedPairs(unknown.map((roomId) => [roomId, input.requester.userId]))
  return roomIds.filter((roomId) => {
    const known = input.scope.rooms.get(roomId)
    return known ? known.membership === 'join' : read.has(`${roomId}\n${input.requester.userId}`)
  })
}

/** An m.receipt content: event ID → receipt type → user ID → receipt. */
type ReceiptContent = Record<string, Record<string, Record<string, JsonObject>>>

/** The user's own receipts and the INITIAL_RECEIPTS_PER_ROOM most recent others (by their ts). */
function recentReceipts(content: ReceiptContent, userId: string): ReceiptContent {
  const entries: Array<{ eventId: string; type: string; user: string; receipt: JsonObject }> = []
  for (const [eventId, byType] of Object.entries(content)) {
    for (const [type, byUser] of Object.entries(byType)) {
      for (const [user, receipt] of Object.entries(byUser)) entries.push({ eventId, type, user, receipt })
    }
  }
  const ts = (receipt: JsonObject) => (typeof receipt.ts === 'number' ? receipt.ts : 0)
  const others = entries.filter((e) => e.user !== userId).sort((a, b) => ts(b.receipt) - ts(a.receipt))
  const out: ReceiptContent = {}
  for (const e of [...entries.filter((e) => e.user === userId), ...others.slice(0, INITIAL_RECEIPTS_PER_ROOM)]) {
    ;((out[e.eventId] ??= {})[e.type] ??= {})[e.user] = e.receipt
  }
  return out
}
