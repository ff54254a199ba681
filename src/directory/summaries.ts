// Room summaries: what the published room directory and the space hierarchy show of a room (name, topic,
// canonical alias, join rule, member count…). Kept in room_summaries by a RoomWriter append hook, so
// listing rooms reads one indexed table instead of parsing every room's state.
import { redactContent } from '../protocol/events/index.ts'
import type { JsonObject } from '../protocol/events/types.ts'
import type { RoomVersion } from '../protocol/room-versions.ts'
import type { Repositories, RoomSummaryRow, SummaryFields } from '../storage/index.ts'
import type { AppendHook } from '../rooms/writer.ts'

/** The state types a summary is made of (all with state_key ''). */
export const SUMMARY_TYPES = [
  'm.room.create',
  'm.room.name',
  'm.room.topic',
  'm.room.canonical_alias',
  'm.room.avatar',
  'm.room.join_rules',
  'm.room.history_visibility',
  'm.room.guest_access',
  'm.room.encryption',
] as const

const str = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null)

/** The plain-text topic: `topic`, else the text/plain entry of the m.topic content block. */
function plainTopic(content: JsonObject): string | null {
  const topic = str(content.topic)
  if (topic !== null) return topic
  const block = content['m.topic']
  const entries = Array.isArray(block) ? block : Array.isArray((block as JsonObject | undefined)?.['m.text']) ? ((block as JsonObject)['m.text'] as unknown[]) : []
  for (const entry of entries) {
    const e = entry as JsonObject
    if ((e.mimetype === undefined || e.mimetype === 'text/plain') && str(e.body) !== null) return e.body as string
  }
  return null
}

/** The rooms a restricted join rule lets members of join (m.room_membership allow conditions). */
function allowedRooms(content: JsonObject): string[] | null {
  if (content.join_rule !== 'restricted' && content.join_rule !== 'knock_restricted') return null
  if (!Array.isArray(content.allow)) return []
  return content.allow
    .filter((a): a is JsonObject => typeof a === 'object' && a !== null && (a as JsonObject).type === 'm.room_membership')
    .map((a) => a.room_id)
    .filter((id): id is string => typeof id === 'string')
}

/** The summary fields one state event sets (empty for types that are not part of a summary). */
export function summaryFields(type: string, stateKey: string, content: JsonObject): SummaryFields {
  if (stateKey !== '') return {}
  switch (type) {
    case 'm.room.create':
      return { room_type: str(content.type) }
    case 'm.room.name':
      return { name: str(content.name) }
    case 'm.room.topic':
      return { topic: plainTopic(content) }
    case 'm.room.canonical_alias':
      return { canonical_alias: str(content.alias) }
    case 'm.room.avatar':
      return { avatar_url: str(content.url) }
    case 'm.room.join_rules':
      return { join_rule: str(content.join_rule), allowed_room_ids: allowedRooms(content) }
    case 'm.room.history_visibility':
      return { history_visibility: str(content.history_visibility) }
    case 'm.room.guest_access':
      return { guest_access: str(content.guest_access) }
    case 'm.room.encryption':
      return { encryption: str(content.algorithm) }
    default:
      return {}
  }
}

const EMPTY: Omit<RoomSummaryRow, 'room_id'> = {
  room_type: null,
  name: null,
  topic: null,
  canonical_alias: null,
  avatar_url: null,
  join_rule: null,
  history_visibility: null,
  guest_access: null,
  encryption: null,
  allowed_room_ids: null,
  joined_members: 0,
  invited_members: 0,
}

/**
 * Recomputes the summaries of rooms from their current state, in three queries whatever their number. The
 * append hook keeps summaries current event by event; call this after anything that changes current state
 * without appending through the RoomWriter (state resolution over federation, for one).
 */
export async function refreshRoomSummaries(repos: Repositories, roomIds: string[]): Promise<void> {
  if (roomIds.length === 0) return
  const [state, counts] = await Promise.all([repos.sync.currentState(roomIds, [...SUMMARY_TYPES]), repos.sync.memberCounts(roomIds)])
  const rows = new Map<string, RoomSummaryRow>(roomIds.map((id) => [id, { room_id: id, ...EMPTY }]))
  for (const r of state) {
    const row = rows.get(r.room_id)
    const content = ((JSON.parse(r.json) as { content?: JsonObject }).content ?? {}) as JsonObject
    if (row) Object.assign(row, summaryFields(r.type, r.state_key ?? '', content))
  }
  for (const c of counts) {
    const row = rows.get(c.room_id)
    if (row) {
      row.joined_members = c.joined
      row.invited_members = c.invited
    }
  }
  await repos.directory.putSummaries([...rows.values()])
}

/** The append hook: one small write for each summary-relevant state event, nothing for other events. */
export const summaryHook: AppendHook = async (repos, { event }, room) => {
  if (event.type === 'm.room.redaction') {
    await redactedSummaryState(repos, event.room_id, event.redacts ?? event.content.redacts, room.version)
    return
  }
  if (event.state_key === undefined) return
  if (event.type === 'm.room.member') {
    await repos.directory.countMemberEvent(event.room_id, event.event_id, String(event.content.membership))
    return
  }
  const fields = summaryFields(event.type, event.state_key, event.content)
  if (Object.keys(fields).length === 0) return
  const inserted = await repos.directory.setFields(event.room_id, fields)
  // A room that had no summary yet (created before summaries existed) gets a whole one.
  if (inserted && event.type !== 'm.room.create') await refreshRoomSummaries(repos, [event.room_id])
}

/** A redaction of the current name, topic, avatar… empties that field (the redaction is applied just after). */
async function redactedSummaryState(repos: Repositories, roomId: string, target: unknown, version: RoomVersion): Promise<void> {
  if (typeof target !== 'string') return
  const row = await repos.events.get(roomId, target)
  if (!row || row.state_key !== '' || !(SUMMARY_TYPES as readonly string[]).includes(row.type)) return
  const [current] = await repos.state.currentEvents(roomId, [[row.type, '']])
  if (current?.event_id !== target) return
  const content = (JSON.parse(row.json) as { content?: unknown }).content
  await repos.directory.setFields(roomId, summaryFields(row.type, '', redactContent(row.type, content, version)))
}

/** The fields a room summary shares between /publicRooms and /hierarchy (client-server "PublishedRoomsChunk"). */
export function publicChunk(row: RoomSummaryRow): JsonObject {
  const chunk: JsonObject = {
    room_id: row.room_id,
    num_joined_members: row.joined_members,
    world_readable: row.history_visibility === 'world_readable',
    guest_can_join: row.guest_access === 'can_join',
  }
  if (row.name !== null) chunk.name = row.name
  if (row.topic !== null) chunk.topic = row.topic
  if (row.canonical_alias !== null) chunk.canonical_alias = row.canonical_alias
  if (row.avatar_url !== null) chunk.avatar_url = row.avatar_url
  if (row.join_rule !== null) chunk.join_rule = row.join_rule
  if (row.room_type !== null) chunk.room_type = row.room_type
  return chunk
}
