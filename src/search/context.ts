// event_context of search results (client-server API, "Server Side Search"): the events just before and
// after each result (through history visibility), pagination tokens usable with /messages, and, on
// request, the senders' profiles as the room state had them at the last of those events. Every part is
// one batched query for all results.
import type { JsonObject } from '../protocol/events/types.ts'
import { toClientEvents, type ClientEvent, type Viewer } from '../rooms/client-events.ts'
import { formatToken, tokenOf } from '../rooms/read.ts'
import type { EventRow, Repositories } from '../storage/index.ts'
import { visibleTo } from './visible.ts'

export interface EventContextRequest {
  before_limit?: number | undefined
  after_limit?: number | undefined
  include_profile?: boolean | undefined
}

export interface SearchContext {
  start: string
  end: string
  events_before: ClientEvent[]
  events_after: ClientEvent[]
  profile_info?: Record<string, { displayname?: string; avatar_url?: string }>
}

const DEFAULT_CONTEXT = 5
const MAX_CONTEXT = 50

export async function eventContexts(repos: Repositories, hits: EventRow[], request: EventContextRequest, viewer: Viewer, now: number): Promise<SearchContext[]> {
  if (hits.length === 0) return []
  const beforeLimit = Math.min(Math.max(request.before_limit ?? DEFAULT_CONTEXT, 0), MAX_CONTEXT)
  const afterLimit = Math.min(Math.max(request.after_limit ?? DEFAULT_CONTEXT, 0), MAX_CONTEXT)
  const anchors = hits.map((h) => ({ room_id: h.room_id, depth: h.depth, stream: h.stream_ordering }))
  const [beforeRows, afterRows] = await Promise.all([repos.search.around(anchors, 'before', beforeLimit), repos.search.around(anchors, 'after', afterLimit)])
  const before = hits.map(() => [] as EventRow[])
  const after = hits.map(() => [] as EventRow[])
  for (const row of beforeRows) before[row.anchor]?.push(row)
  for (const row of afterRows) after[row.anchor]?.push(row)

  // One visibility pass and one formatting pass over every context event of every result.
  const all = [...beforeRows, ...afterRows]
  const shown = await visibleTo(repos, viewer.userId, dedupe(all))
  const visible = new Set(shown.map((r) => r.event_id))
  const formatted = new Map((await toClientEvents(repos, shown, viewer, now)).map((e) => [e.event_id, e]))
  const pick = (rows: EventRow[]) => rows.filter((r) => visible.has(r.event_id)).map((r) => formatted.get(r.event_id) as ClientEvent)

  const contexts = hits.map((hit, i) => {
    const b = before[i] as EventRow[]
    const a = after[i] as EventRow[]
    return {
      start: formatToken(tokenOf(b.length > 0 ? (b[b.length - 1] as EventRow) : hit)),
      end: formatToken(tokenOf(a.length > 0 ? (a[a.length - 1] as EventRow) : hit)),
      events_before: pick(b),
      events_after: pick(a),
    } as SearchContext
  })
  if (request.include_profile) await addProfiles(repos, hits, before, after, visible, contexts)
  return contexts
}

/** profile_info: each sender's m.room.member as of the result's last context event (historic names). */
async function addProfiles(repos: Repositories, hits: EventRow[], before: EventRow[][], after: EventRow[][], visible: Set<string>, contexts: SearchContext[]): Promise<void> {
  const senders = hits.map((hit, i) => {
    const shown = [...(before[i] as EventRow[]), ...(after[i] as EventRow[])].filter((r) => visible.has(r.event_id))
    return new Set([hit.sender, ...shown.map((r) => r.sender)])
  })
  const lastOf = hits.map((hit, i) => {
    const shownAfter = (after[i] as EventRow[]).filter((r) => visible.has(r.event_id))
    return shownAfter.length > 0 ? (shownAfter[shownAfter.length - 1] as EventRow) : hit
  })
  const groups = await repos.search.stateGroupsOf(lastOf)
  const wanted = [...new Set(senders.flatMap((s) => [...s]))]
  const groupList = [...new Map(lastOf.flatMap((e) => (groups.has(e.event_id) ? [[groups.get(e.event_id) as number, e.room_id] as const] : []))).entries()]
  const entries = await repos.search.groupStates(groupList.map(([group, room_id]) => ({ room_id, group })), ['m.room.member'], wanted)
  const members = new Map((await repos.events.getByIds([...new Set(entries.map((e) => e.event_id))])).map((r) => [r.event_id, r]))
  const byGroup = new Map<number, Map<string, JsonObject>>()
  for (const entry of entries) {
    const row = members.get(entry.event_id)
    if (!row || row.state_key === null) continue
    const content = (JSON.parse(row.json) as { content?: JsonObject }).content ?? {}
    if (!byGroup.has(entry.group)) byGroup.set(entry.group, new Map())
    byGroup.get(entry.group)?.set(row.state_key, content)
  }
  hits.forEach((_, i) => {
    const group = groups.get((lastOf[i] as EventRow).event_id)
    const state = group !== undefined ? byGroup.get(group) : undefined
    const info: Record<string, { displayname?: string; avatar_url?: string }> = {}
    for (const sender of senders[i] as Set<string>) {
      const content = state?.get(sender)
      if (!content) continue
      const profile: { displayname?: string; avatar_url?: string } = {}
      if (typeof content.displayname === 'string') profile.displayname = content.displayname
      if (typeof content.avatar_url === 'string') profile.avatar_url = content.avatar_url
      info[sender] = profile
    }
    ;(contexts[i] as SearchContext).profile_info = info
  })
}

function dedupe(rows: EventRow[]): EventRow[] {
  const seen = new Set<string>()
  return rows.filter((r) => !seen.has(r.event_id) && seen.add(r.event_id) !== undefined)
}
