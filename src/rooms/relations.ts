// Relations (client-server API, "Forming relationships between events", "Aggregations of child events"):
// the bundled aggregations added to the events clients receive, as unsigned["m.relations"]:
// - m.replace: the most recent valid edit ("Server-side aggregation of m.replace relationships"); the
//   original's content is left as it is (servers no longer apply edits since v1.7);
// - m.thread: {latest_event, count, current_user_participated} ("Threading");
// - m.reference: {chunk: [{event_id}]} ("Reference relations").
// m.annotation is not aggregated by servers (v1.7). State events get no aggregations.
// One query per kind for the whole batch; bundled events pass the viewer's history visibility.
import type { JsonObject } from '../protocol/events/types.ts'
import type { ChildRow, EditableRef, EventRow, ParentRef, Repositories, ThreadSummaryRow } from '../storage/index.ts'
import { toClientEvents, type ClientEvent, type Viewer } from './client-events.ts'
import { filterVisible } from './visibility.ts'
import { ignoredUsers } from '../directory/index.ts'

/** Passed down when bundled events are themselves formatted. */
export interface BundleOptions {
  /** 0 for the events asked for; bundled events are at depth 1, theirs at 2 (which get none). */
  depth: number
  ignored?: string[]
}

/** The spec asks for the aggregations of a thread's latest_event too, and no deeper. */
const MAX_DEPTH = 1
/** When the newest edit or reply is hidden from the viewer, older ones are looked at, this many at most. */
const FALLBACK_CANDIDATES = 20

/** The rel_type of an event's (cleartext) m.relates_to, if any. */
export function relTypeOf(row: EventRow): string | null {
  const content = (JSON.parse(row.json) as { content?: JsonObject }).content
  const relation = content?.['m.relates_to'] as { rel_type?: unknown } | undefined
  return typeof relation?.rel_type === 'string' ? relation.rel_type : null
}

/**
 * The rows the viewer may see, by ID, as they may see them (an erased sender's redacted). Events after the
 * viewer's current join are visible as stored without further reading (membership at the event is join);
 * the rest go through filterVisible, room by room.
 */
export async function visibleRows(repos: Repositories, userId: string, rows: EventRow[]): Promise<Map<string, EventRow>> {
  const visible = new Map<string, EventRow>()
  if (rows.length === 0) return visible
  const rooms = [...new Set(rows.map((r) => r.room_id))]
  const joins = new Map<string, number>()
  if (rooms.length === 1) {
    const m = await repos.memberships.get(rooms[0] as string, userId)
    if (m?.membership === 'join') joins.set(m.room_id, m.stream_ordering)
  } else {
    for (const m of await repos.memberships.roomsOf(userId, ['join'])) joins.set(m.room_id, m.stream_ordering)
  }
  const rest = new Map<string, EventRow[]>()
  for (const row of rows) {
    const joinedAt = joins.get(row.room_id)
    if (joinedAt !== undefined && row.stream_ordering >= joinedAt) visible.set(row.event_id, row)
    else rest.set(row.room_id, [...(rest.get(row.room_id) ?? []), row])
  }
  const checked = await Promise.all([...rest].map(([roomId, list]) => filterVisible(repos, roomId, userId, list)))
  for (const list of checked) for (const row of list) visible.set(row.event_id, row)
  return visible
}

/** The first visible candidate per parent (candidates come newest first per parent), as shown; the others are retried. */
function pickVisible(candidates: ChildRow[], visible: Map<string, EventRow>, chosen: Map<string, EventRow>): Set<string> {
  const hidden = new Set<string>()
  for (const c of candidates) {
    if (chosen.has(c.parent_id)) continue
    const shown = visible.get(c.event_id)
    if (shown) {
      chosen.set(c.parent_id, shown)
      hidden.delete(c.parent_id)
    } else hidden.add(c.parent_id)
  }
  return hidden
}

/** Adds unsigned["m.relations"] (m.replace, m.thread, m.reference) to the formatted events, in place. */
export async function addBundledAggregations(
  repos: Repositories,
  rows: EventRow[],
  events: ClientEvent[],
  viewer: Viewer,
  now: number,
  options: BundleOptions = { depth: 0 },
): Promise<void> {
  if (options.depth > MAX_DEPTH) return
  // State events get no bundles; neither do events read with the knowledge that nothing relates to them,
  // nor those served redacted because their sender was erased.
  const targets = rows.map((row, i) => ({ row, event: events[i] as ClientEvent })).filter((t) => t.row.state_key === null && t.row.has_children !== false && !t.row.erased)
  if (targets.length === 0) return
  const parents: ParentRef[] = targets.map(({ row }) => ({ room_id: row.room_id, event_id: row.event_id }))
  const ignored = options.ignored ?? [...(await ignoredUsers(repos, viewer.userId))]
  // Redacted originals get no edits bundled, edits cannot themselves be edited, and an edit has the
  // sender of its original (so an ignored user's edits go with their events).
  const editable: EditableRef[] = targets
    .filter(({ row }) => row.redacted_by === null && !ignored.includes(row.sender) && relTypeOf(row) !== 'm.replace')
    .map(({ row }) => ({ room_id: row.room_id, event_id: row.event_id, type: row.type, sender: row.sender }))
  const [edits, threads, references] = await Promise.all([
    repos.relations.edits(editable, 1),
    repos.relations.threadSummaries(parents, viewer.userId, ignored),
    repos.relations.references(parents, ignored),
  ])

  // Bundled events must not show what the viewer's history visibility hides.
  const latestEdit = new Map<string, EventRow>()
  const latestReply = new Map<string, EventRow>()
  const visible = await visibleRows(repos, viewer.userId, [...edits, ...threads])
  const hiddenEdits = pickVisible(edits, visible, latestEdit)
  const hiddenThreads = pickVisible(threads, visible, latestReply)
  if (hiddenEdits.size > 0 || hiddenThreads.size > 0) {
    const [moreEdits, moreReplies] = await Promise.all([
      repos.relations.edits(editable.filter((e) => hiddenEdits.has(e.event_id)), FALLBACK_CANDIDATES),
      repos.relations.threadReplies(parents.filter((p) => hiddenThreads.has(p.event_id)), ignored, FALLBACK_CANDIDATES),
    ])
    const visibleMore = await visibleRows(repos, viewer.userId, [...moreEdits, ...moreReplies])
    pickVisible(moreEdits, visibleMore, latestEdit)
    pickVisible(moreReplies, visibleMore, latestReply)
  }

  const bundledRows = [...latestEdit.values(), ...latestReply.values()]
  const formatted = await toClientEvents(repos, bundledRows, viewer, now, { depth: options.depth + 1, ignored })
  const formattedById = new Map(bundledRows.map((r, i) => [r.event_id, formatted[i] as ClientEvent]))
  const summaries = new Map<string, ThreadSummaryRow>(threads.map((t) => [t.parent_id, t]))
  const referencesOf = new Map<string, Array<{ event_id: string }>>()
  for (const r of references) referencesOf.set(r.parent_id, [...(referencesOf.get(r.parent_id) ?? []), { event_id: r.event_id }])

  for (const { row, event } of targets) {
    const relations: JsonObject = {}
    const edit = latestEdit.get(row.event_id)
    if (edit) relations['m.replace'] = formattedById.get(edit.event_id) as ClientEvent
    const summary = summaries.get(row.event_id)
    const reply = latestReply.get(row.event_id)
    if (summary && reply) {
      relations['m.thread'] = {
        latest_event: formattedById.get(reply.event_id) as ClientEvent,
        count: summary.thread_count,
        current_user_participated: summary.participated || row.sender === viewer.userId,
      }
    }
    const refs = referencesOf.get(row.event_id)
    if (refs) relations['m.reference'] = { chunk: refs }
    if (Object.keys(relations).length > 0) event.unsigned = { ...event.unsigned, 'm.relations': relations }
  }
}
