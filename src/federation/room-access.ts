// What another server may read of a room: the room's server ACL (server-server-api, "Server Access
// Control Lists (ACLs)") and history visibility applied to a server (client-server-api, "Room History
// Visibility", "Server behaviour"): a server sees an event when the rules would let one of its users see
// it, with the state of the room at that event (its state group) rather than a user's stream history.
import { compileServerAcl, serverAllowedByAcl } from '../protocol/server-acl.ts'
import { forbidden } from '../shared/errors.ts'
import type { GraphEventRow, Repositories } from '../storage/index.ts'

/** Whether `server` may take part in the room under its current m.room.server_acl (none: every server may). */
export async function serverAllowedInRoom(repos: Repositories, roomId: string, server: string): Promise<boolean> {
  const [acl] = await repos.state.currentEvents(roomId, [['m.room.server_acl', '']])
  if (!acl) return true
  const content = (JSON.parse(acl.json) as { content?: unknown }).content
  return serverAllowedByAcl(server, compileServerAcl(content))
}

/** serverAllowedInRoom, answering 403 M_FORBIDDEN as the spec asks when the ACL denies the server. */
export async function assertServerAllowed(repos: Repositories, roomId: string, server: string): Promise<void> {
  if (!(await serverAllowedInRoom(repos, roomId, server))) throw forbidden('Server is banned from the room by its server ACL')
}

const KNOWN_VISIBILITY = new Set(['world_readable', 'shared', 'invited', 'joined'])

/** The spec's default when history_visibility is unset or not understood. */
function visibilityOf(value: string | null | undefined): string {
  return value && KNOWN_VISIBILITY.has(value) ? value : 'shared'
}

/** A user's server: everything after the first ':' of the user ID. */
function serverOfUser(userId: string): string {
  return userId.slice(userId.indexOf(':') + 1)
}

function contentValue(json: string, key: string): string | null {
  const content = (JSON.parse(json) as { content?: Record<string, unknown> }).content
  const value = content?.[key]
  return typeof value === 'string' ? value : null
}

/** History visibility for one server in one room, for the events of one request. */
export class ServerView {
  readonly server: string
  /** Whether one of the server's users is joined to the room now. */
  readonly joinedNow: boolean
  private readonly roomId: string
  /** The stream position of the latest join of any of the server's users ("joined at any point after"). */
  private readonly lastJoin: number

  private constructor(roomId: string, server: string, presence: { joinedNow: boolean; lastJoin: number | null }) {
    this.roomId = roomId
    this.server = server
    this.joinedNow = presence.joinedNow
    this.lastJoin = presence.lastJoin ?? -Infinity
  }

  static async load(repos: Repositories, roomId: string, server: string): Promise<ServerView> {
    return new ServerView(roomId, server, await repos.eventGraph.serverPresence(roomId, server))
  }

  /**
   * The events of `rows` (all of this room) the server may see. Two statements whatever the number of
   * events: the visibility and the server's memberships in every state group, and the state the
   * history_visibility events and the server's own member events replaced (for "before or after").
   * An event whose state is unknown (no state group) is not visible.
   */
  async visible(repos: Repositories, rows: GraphEventRow[]): Promise<Set<string>> {
    const groups = [...new Set(rows.map((r) => r.state_group).filter((g): g is number => g !== null))]
    const special = (r: GraphEventRow) =>
      (r.type === 'm.room.history_visibility' && r.state_key === '') || (r.type === 'm.room.member' && r.state_key !== null && serverOfUser(r.state_key) === this.server)
    const replacedIds = rows.filter((r) => special(r) && r.replaces_state !== null).map((r) => r.replaces_state as string)
    const [entries, replaced] = await Promise.all([repos.eventGraph.serverStateIn(this.roomId, groups, this.server), repos.eventGraph.events(this.roomId, replacedIds)])
    const byGroup = new Map<number, { visibility: string; members: Map<string, string> }>()
    for (const g of groups) byGroup.set(g, { visibility: 'shared', members: new Map() })
    for (const e of entries) {
      const group = byGroup.get(e.group_id)
      if (!group) continue
      if (e.type === 'm.room.history_visibility') group.visibility = visibilityOf(e.value)
      else group.members.set(e.state_key, e.value ?? 'leave')
    }
    const replacedJson = new Map(replaced.map((r) => [r.event_id, r.json]))
    const allowed = (visibility: string, members: Iterable<string>, stream: number): boolean => {
      if (visibility === 'world_readable') return true
      const memberships = new Set(members)
      if (memberships.has('join')) return true
      if (visibility === 'shared' && this.lastJoin > stream) return true
      return visibility === 'invited' && memberships.has('invite')
    }
    const out = new Set<string>()
    for (const row of rows) {
      const after = row.state_group === null ? undefined : byGroup.get(row.state_group)
      if (!after) continue
      if (allowed(after.visibility, after.members.values(), row.stream_ordering)) {
        out.add(row.event_id)
        continue
      }
      if (!special(row)) continue
      // A history_visibility change, or a membership change of one of the server's users, is visible
      // when the state before it allows it too.
      const before = row.replaces_state === null ? undefined : replacedJson.get(row.replaces_state)
      if (row.type === 'm.room.history_visibility') {
        const previous = visibilityOf(before === undefined ? null : contentValue(before, 'history_visibility'))
        if (allowed(previous, after.members.values(), row.stream_ordering)) out.add(row.event_id)
      } else {
        const members = new Map(after.members)
        members.set(row.state_key as string, before === undefined ? 'leave' : (contentValue(before, 'membership') ?? 'leave'))
        if (allowed(after.visibility, members.values(), row.stream_ordering)) out.add(row.event_id)
      }
    }
    return out
  }
}
