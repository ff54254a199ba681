// Push rules and notification counts (client-server API, "Push Notifications"): the rules API over stored
// rules, the m.push_rules account data mirror, rule evaluation for each appended event, and the unread
// counts /sync reports.
import { ROOM_NOTIFICATION_DEFAULT, notificationPowerLevel, powerLevelsContent, userPowerLevel } from '../protocol/auth/index.ts'
import type { AppendedEvent, EventTemplate, RoomWriteState } from '../rooms/writer.ts'
import type { Clock } from '../shared/clock.ts'
import type { JsonObject } from '../protocol/events/types.ts'
import { toClientEvents, type Viewer } from '../rooms/client-events.ts'
import { MatrixError, notFound } from '../shared/errors.ts'
import type { EventContext, EventPush, EventRecord, PushRuleRow, Repositories, Storage } from '../storage/index.ts'
import type { UnreadCounts } from '../sync/rooms.ts'
import { unreadFromThreads, type ThreadCounts, type UnreadCountsAt } from '../sync/local.ts'
import { DEFAULT_MATCH_LIMITS, evaluate, needsDisplayName, tweaksOf, type MatchLimits, type PushEvent, type RoomFacts } from './evaluate.ts'
import { mentionCandidates, mentionKey, namedLocalUsers, planEvent } from './fanout.ts'
import { localpartOf } from './rules.ts'
import { buildRuleset, defaultRuleset, isDefaultRule, isRuleKind, type DefaultOverride, type PushAction, type PushRule, type RuleKind, type Ruleset, type StoredRule } from './rules.ts'
import { DEFAULT_RULE_LIMITS, validateActions, validateConditions, validateNewRuleId, validatePattern, type RuleLimits } from './validate.ts'

export { RULE_KINDS, type RuleKind, type Ruleset, type PushRule } from './rules.ts'

/** What bounds a user's rules and the matching work of one event (config `push`). */
export type PushLimits = RuleLimits & MatchLimits

export const DEFAULT_PUSH_LIMITS: PushLimits = { ...DEFAULT_RULE_LIMITS, ...DEFAULT_MATCH_LIMITS }

export interface PushOptions {
  storage: Storage
  clock: Clock
  serverName: string
  limits?: PushLimits
}

/** Records the push gateway deliveries of an event, inside its transaction (PushSender.queueEvent). */
export type QueueDeliveries = (repos: Repositories, push: EventPush) => void

/** The body of PUT /pushrules/global/{kind}/{ruleId}. */
export interface RuleBody {
  actions: unknown
  conditions?: unknown
  pattern?: unknown
}

function splitRows(rows: PushRuleRow[]): Map<string, { rules: StoredRule[]; overrides: DefaultOverride[] }> {
  const byUser = new Map<string, { rules: StoredRule[]; overrides: DefaultOverride[] }>()
  for (const r of rows) {
    if (!isRuleKind(r.kind)) continue
    let entry = byUser.get(r.user_id)
    if (!entry) byUser.set(r.user_id, (entry = { rules: [], overrides: [] }))
    if (r.is_default) {
      entry.overrides.push({ kind: r.kind, rule_id: r.rule_id, enabled: r.enabled, actions: r.actions as PushAction[] | null })
    } else {
      entry.rules.push({
        kind: r.kind,
        rule_id: r.rule_id,
        conditions: r.conditions as StoredRule['conditions'],
        pattern: r.pattern,
        actions: (r.actions ?? []) as PushAction[],
        enabled: r.enabled ?? true,
      })
    }
  }
  return byUser
}

/** Counting through this many events of a room makes a checkpoint of its unread counts (see unreadCounts). */
export const CHECKPOINT_AFTER_ROWS = 200

/** The keys a joined member is found by for the legacy mention rules: those of their localpart and display name. */
function memberKeys(userId: string, displayName: unknown): string[] {
  const keys = new Set<string>()
  for (const name of [localpartOf(userId), typeof displayName === 'string' ? displayName : '']) {
    const key = mentionKey(name)
    if (key !== null) keys.add(key)
  }
  return [...keys]
}

export class Push {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly serverName: string
  private readonly limits: PushLimits
  private deliveries: QueueDeliveries | null = null

  constructor(options: PushOptions) {
    this.storage = options.storage
    this.clock = options.clock
    this.serverName = options.serverName
    this.limits = options.limits ?? DEFAULT_PUSH_LIMITS
  }

  /** Where the push gateway deliveries of notifying events are queued (the push sender; none: no pushes). */
  deliverWith(queue: QueueDeliveries): void {
    this.deliveries = queue
  }

  // ---- The rules API ----

  /** The user's global ruleset (GET /pushrules/ and /pushrules/global/). */
  async ruleset(userId: string, repos: Repositories = this.storage.repos): Promise<Ruleset> {
    const entry = splitRows(await repos.push.rulesOf([userId])).get(userId)
    return buildRuleset(userId, entry?.rules ?? [], entry?.overrides ?? [])
  }

  async getRule(userId: string, kind: RuleKind, ruleId: string): Promise<PushRule> {
    const rule = (await this.ruleset(userId))[kind].find((r) => r.rule_id === ruleId)
    if (!rule) throw notFound('The push rule was not found.')
    return rule
  }

  /** Creates or replaces a user rule, placed by before/after or first among the kind's user rules. */
  async putRule(userId: string, kind: RuleKind, ruleId: string, body: RuleBody, position: { before?: string; after?: string }): Promise<void> {
    validateNewRuleId(kind, ruleId)
    const actions = validateActions(body.actions)
    const conditions = kind === 'override' || kind === 'underride' ? validateConditions(body.conditions, this.limits) : null
    const pattern = kind === 'content' ? validatePattern(body.pattern, this.limits) : null
    const maxRules = this.limits.maxRulesPerKind
    await this.change(userId, async (repos, current) => {
      const own = current.rules.filter((r) => r.kind === kind).map((r) => r.rule_id)
      const exists = own.includes(ruleId)
      if (!exists && own.length >= maxRules) throw new MatrixError('M_INVALID_PARAM', `A user may have at most ${maxRules} ${kind} push rules`, 400)
      const anchor = position.before ?? position.after
      let order = own
      if (anchor !== undefined) {
        if (anchor === ruleId || !own.includes(anchor)) throw new MatrixError('M_UNKNOWN', `before/after rule not found: ${anchor}`, 400)
        order = own.filter((id) => id !== ruleId)
        const at = order.indexOf(anchor)
        order.splice(position.before !== undefined ? at : at + 1, 0, ruleId)
      } else if (!exists) order = [ruleId, ...own]
      // Most important first: priorities count down to 1.
      const priorities = order.map((_, i) => order.length - i)
      await repos.push.upsertRule(userId, kind, ruleId, { priority: priorities[order.indexOf(ruleId)] as number, conditions, pattern, actions })
      await repos.push.setPriorities(userId, kind, order, priorities)
    })
  }

  /** Deletes a user rule; server-default rules cannot be deleted (400 M_INVALID_PARAM), unknown ones are 404. */
  async deleteRule(userId: string, kind: RuleKind, ruleId: string): Promise<void> {
    if (isDefaultRule(kind, ruleId)) throw new MatrixError('M_INVALID_PARAM', 'Server-default push rules cannot be deleted; disable them instead')
    await this.change(userId, async (repos) => {
      if (!(await repos.push.deleteRule(userId, kind, ruleId))) throw notFound('The push rule was not found.')
    })
  }

  async isEnabled(userId: string, kind: RuleKind, ruleId: string): Promise<boolean> {
    return (await this.getRule(userId, kind, ruleId)).enabled
  }

  async actions(userId: string, kind: RuleKind, ruleId: string): Promise<PushAction[]> {
    return (await this.getRule(userId, kind, ruleId)).actions
  }

  async setEnabled(userId: string, kind: RuleKind, ruleId: string, enabled: boolean): Promise<void> {
    await this.updateRule(userId, kind, ruleId, { enabled })
  }

  async setActions(userId: string, kind: RuleKind, ruleId: string, actions: unknown): Promise<void> {
    await this.updateRule(userId, kind, ruleId, { actions: validateActions(actions) })
  }

  private async updateRule(userId: string, kind: RuleKind, ruleId: string, change: { enabled?: boolean; actions?: PushAction[] }): Promise<void> {
    await this.change(userId, async (repos) => {
      if (isDefaultRule(kind, ruleId)) await repos.push.updateDefault(userId, kind, ruleId, change)
      else if (!(await repos.push.updateRule(userId, kind, ruleId, change))) throw notFound('The push rule was not found.')
    })
  }

  /**
   * Copies the rules of these (local) users that name `fromRoomId` to `toRoomId`, inside the caller's
   * transaction (a room upgrade's carry-over, as Synapse does it): the room rule, and override and underride
   * rules whose room_id condition names the old room, each placed first among its kind under the new room's
   * ID, its room_id conditions naming the new room. A kind already at the user's limit gets no copy.
   */
  async copyRoomRules(repos: Repositories, userIds: string[], fromRoomId: string, toRoomId: string): Promise<void> {
    const byUser = splitRows(await repos.push.rulesNamingRoom(userIds, fromRoomId))
    // Users in a fixed order, so two transactions copying for the same users never wait on each other.
    for (const userId of [...byUser.keys()].sort()) {
      const named = byUser.get(userId)?.rules ?? []
      await this.changeIn(repos, userId, async (current) => {
        for (const rule of named) {
          const own = current.rules.filter((r) => r.kind === rule.kind).map((r) => r.rule_id)
          if (!own.includes(toRoomId) && own.length >= this.limits.maxRulesPerKind) continue
          const conditions = rule.conditions?.map((c) => (c.key === 'room_id' ? { ...c, pattern: toRoomId } : c)) ?? null
          const order = [toRoomId, ...own.filter((id) => id !== toRoomId)]
          const priorities = order.map((_, i) => order.length - i)
          await repos.push.upsertRule(userId, rule.kind, toRoomId, { priority: priorities[0] as number, conditions, pattern: rule.pattern, actions: rule.actions })
          await repos.push.setPriorities(userId, rule.kind, order, priorities)
          current.rules = [{ ...rule, rule_id: toRoomId, conditions }, ...current.rules.filter((r) => !(r.kind === rule.kind && r.rule_id === toRoomId))]
        }
      })
    }
  }

  /**
   * Applies one change to a user's rules and, in the same transaction, publishes the new ruleset as the
   * m.push_rules account data, so /sync tells the user's clients ("Push Rules: Events").
   */
  private async change(userId: string, fn: (repos: Repositories, current: { rules: StoredRule[]; overrides: DefaultOverride[] }) => Promise<void>): Promise<void> {
    await this.storage.streamTransaction((repos) => this.changeIn(repos, userId, (current) => fn(repos, current)))
  }

  private async changeIn(repos: Repositories, userId: string, fn: (current: { rules: StoredRule[]; overrides: DefaultOverride[] }) => Promise<void>): Promise<void> {
    await repos.push.lockUser(userId)
    const current = splitRows(await repos.push.rulesOf([userId])).get(userId) ?? { rules: [], overrides: [] }
    await fn(current)
    await repos.push.syncCustomMember(userId)
    const global = await this.ruleset(userId, repos)
    const position = await repos.stream.next('account_data', null, userId)
    await repos.accountData.put(userId, '', 'm.push_rules', { global }, this.clock.now(), position)
  }

  // ---- Evaluation (called by the room writer inside the event's transaction) ----

  /**
   * The read evaluation needs of an event still to be built (RoomWriter.onPrepare: a lone message, sent
   * with the room's load): who of the members it names are joined, who has rules of their own, the count.
   */
  prepare(repos: Repositories, roomId: string, template: EventTemplate): Promise<EventContext> {
    return repos.push.eventContext(roomId, this.named(template), this.candidates(template))
  }

  /**
   * Whether the context prepare() read for `earlier` serves `next` in the same room while its members and
   * the push rules are unchanged (RoomWriter's kept rooms): it serves any sender, but lists which of the
   * users an event names are joined, so neither event may name anyone: by user ID, or (without m.mentions)
   * by a word of the body that is one of the room's mention keys.
   */
  preparedServes(earlier: EventTemplate, next: EventTemplate, read: unknown): boolean {
    const context = read as EventContext
    if (context.named.length > 0 || this.named(earlier).length > 0 || this.named(next).length > 0) return false
    const candidates = this.candidates(next)
    if (candidates.length === 0) return true
    if (context.roomKeys === null) return false
    const keys = new Set(context.roomKeys)
    return !candidates.some((k) => keys.has(k))
  }

  private named(template: Pick<PushEvent, 'type' | 'state_key' | 'content' | 'sender'>): string[] {
    return namedLocalUsers(template, this.serverName).filter((u) => u !== template.sender)
  }

  /** The keys by which the body of an event without m.mentions may name members (fanout.ts). */
  private candidates(template: Pick<PushEvent, 'content'>): string[] {
    return mentionCandidates(template, this.limits.maxMatchLength)
  }

  /**
   * Decides who an appended event notifies and stores it, at a cost that does not grow with the room: the
   * default rules run once for all the members who keep them (fanout.ts), and one by one only for the members
   * the event names and those with rules of their own. The sender's own notifications in that thread up to
   * the event count as read (they have seen it).
   */
  async onEventAppended(repos: Repositories, appended: AppendedEvent, room: RoomWriteState, prepared?: Promise<EventContext>): Promise<void> {
    const { event, streamOrdering } = appended
    const suffix = `:${this.serverName}`
    const senderIsLocal = event.sender.endsWith(suffix)
    const memberUser = event.type === 'm.room.member' && event.state_key?.endsWith(suffix) ? event.state_key : null
    const joined = memberUser !== null && event.content.membership === 'join'
    // A join lists the user in push_custom_members if they have rules: serialised with their rule changes,
    // which list them in the rooms they are joined to, so that neither misses the other.
    if (joined) await repos.push.lockUser(memberUser)
    const pushEvent: PushEvent = {
      event_id: event.event_id,
      room_id: event.room_id,
      type: event.type,
      sender: event.sender,
      content: event.content,
      origin_server_ts: event.origin_server_ts,
      ...(event.state_key !== undefined ? { state_key: event.state_key } : {}),
      ...(event.redacts !== undefined ? { redacts: event.redacts } : {}),
    }
    const context = await (prepared ?? repos.push.eventContext(event.room_id, this.named(pushEvent), this.candidates(pushEvent)))
    const byUser = splitRows(context.customRules)
    // The sender's own rules do not apply to their event.
    const customUsers = context.custom.filter((u) => u !== event.sender)
    const custom = new Set(customUsers)
    const rulesets = new Map<string, Ruleset>()
    for (const userId of customUsers) rulesets.set(userId, buildRuleset(userId, byUser.get(userId)?.rules ?? [], byUser.get(userId)?.overrides ?? []))
    for (const userId of context.named) if (!custom.has(userId) && userId !== event.sender) rulesets.set(userId, defaultRuleset(userId))
    // A display name can only match a body that holds its key (fanout.ts): only those members' are read, not
    // every member with rules of their own on every message.
    const wantNames = [...rulesets].filter(([, ruleset]) => needsDisplayName(ruleset)).map(([userId]) => userId)
    const nameKeys = mentionCandidates(pushEvent, this.limits.maxMatchLength, true)
    const names = await repos.push.displayNames(event.room_id, wantNames, nameKeys)
    const plContent = powerLevelsContent(room.state)
    const facts: RoomFacts = {
      memberCount: context.memberCount,
      senderPowerLevel: userPowerLevel(event.sender, room.state, room.version),
      notificationLevel: (key) => notificationPowerLevel(key, plContent, room.version) ?? ROOM_NOTIFICATION_DEFAULT,
    }
    const individuals = [...rulesets].map(([userId, ruleset]) => ({ userId, ruleset, displayName: names.get(userId) ?? null }))
    const plan = planEvent(pushEvent, facts, individuals, this.limits)
    const notifies = plan.room.notify || plan.room.highlight || plan.exceptions.length > 0
    if (!notifies && !senderIsLocal && memberUser === null) return
    const relation = event.content['m.relates_to']
    const related = typeof relation === 'object' && relation !== null && typeof (relation as { event_id?: unknown }).event_id === 'string'
    // The same rule as threaded receipts use, so a receipt in a thread clears what was counted there.
    const threadId = related && (notifies || senderIsLocal) ? (await repos.relations.threadOf(event.room_id, event.event_id)).thread : 'main'
    const record: EventRecord = {
      roomId: event.room_id,
      eventId: event.event_id,
      streamOrdering,
      sender: event.sender,
      senderIsLocal,
      threadId,
      room: plan.room,
      exceptions: plan.exceptions,
      member: memberUser === null ? null : { userId: memberUser, joined, keys: joined ? memberKeys(memberUser, event.content.displayname) : [] },
    }
    appended.notifications = record
    await repos.push.recordEvent(record)
    if (this.deliveries === null) return
    const reached = plan.individuals.map((i) => ({ userId: i.user_id, notify: i.notify, tweaks: i.tweaks }))
    // The user an invite names is not a member yet: their own rules decide whether their phone rings.
    const invitee = memberUser !== null && event.content.membership === 'invite' && memberUser !== event.sender ? memberUser : null
    if (invitee !== null) reached.push({ userId: invitee, ...(await this.inviteeOutcome(repos, invitee, pushEvent, facts)) })
    if (!plan.room.notify && !reached.some((i) => i.notify)) return
    this.deliveries(repos, {
      roomId: event.room_id,
      eventId: event.event_id,
      streamOrdering,
      sender: event.sender,
      roomNotifies: plan.room.notify,
      roomTweaks: plan.roomTweaks,
      individuals: reached,
      invitee,
      now: this.clock.now(),
    })
  }

  /**
   * A local user's invite that arrived over federation to a room this server is not in (kept outside the
   * room's DAG, so no append hook ran): their push rules decide, in the transaction that keeps it, whether
   * their pushers are told. The room is unknown here, so conditions on it see no members and no power.
   */
  async onOutsideInvite(repos: Repositories, event: PushEvent & { state_key: string }): Promise<void> {
    if (this.deliveries === null || event.type !== 'm.room.member' || event.content.membership !== 'invite') return
    if (!event.state_key.endsWith(`:${this.serverName}`) || event.state_key === event.sender) return
    const facts: RoomFacts = { memberCount: 0, senderPowerLevel: 0, notificationLevel: () => ROOM_NOTIFICATION_DEFAULT }
    const outcome = await this.inviteeOutcome(repos, event.state_key, event, facts)
    if (!outcome.notify) return
    this.deliveries(repos, {
      roomId: event.room_id,
      eventId: event.event_id,
      // Only the invitee is reached, whatever their membership's position.
      streamOrdering: 0,
      sender: event.sender,
      roomNotifies: false,
      roomTweaks: {},
      individuals: [{ userId: event.state_key, ...outcome }],
      invitee: event.state_key,
      now: this.clock.now(),
    })
  }

  private async inviteeOutcome(repos: Repositories, userId: string, event: PushEvent, facts: RoomFacts): Promise<{ notify: boolean; tweaks: Record<string, unknown> }> {
    const own = splitRows(await repos.push.rulesOf([userId])).get(userId)
    const ruleset = buildRuleset(userId, own?.rules ?? [], own?.overrides ?? [])
    const { notify, actions } = evaluate(ruleset, event, facts, { userId, displayName: null }, this.limits)
    return { notify, tweaks: tweaksOf(actions) }
  }

  // ---- GET /notifications ----

  /**
   * The user's notifications, newest first, as /sync counts them (Push.unreadCounts): `from` is a previous
   * answer's next_token, `onlyHighlight` keeps the highlights. next_token is given when the page is full.
   */
  async notifications(viewer: Viewer, from: string | undefined, limit: number, onlyHighlight: boolean): Promise<{ notifications: JsonObject[]; next_token?: string }> {
    let before = Number.MAX_SAFE_INTEGER
    if (from !== undefined) {
      if (!/^[0-9]{1,15}$/.test(from)) throw new MatrixError('M_INVALID_PARAM', 'from is not a token this server gave')
      before = Number(from)
    }
    const repos = this.storage.repos
    const found = await repos.push.notificationsOf(viewer.userId, before, limit, onlyHighlight)
    const rows = await repos.events.getByIds(found.map((n) => n.event_id))
    const events = new Map((await toClientEvents(repos, rows, viewer, this.clock.now())).map((e) => [e.event_id, e]))
    const notifications: JsonObject[] = []
    for (const n of found) {
      const event = events.get(n.event_id)
      if (!event) continue
      notifications.push({
        actions: n.highlight ? ['notify', { set_tweak: 'highlight' }] : ['notify'],
        event: event as unknown as JsonObject,
        // Synapse's field, always null there too: profile tags were never used to filter notifications.
        profile_tag: null,
        read: n.read,
        room_id: n.room_id,
        ts: event.origin_server_ts,
      })
    }
    const last = found.at(-1)
    return { notifications, ...(found.length === limit && last ? { next_token: String(last.stream_ordering) } : {}) }
  }

  /**
   * The unread count a push gateway shows on the app's badge, as Synapse counts it (group_unread_count_by_room):
   * the rooms with unread notifications, and the rooms the user is invited to.
   */
  async badge(userId: string, upTo: number): Promise<number> {
    const rooms = await this.storage.repos.memberships.roomsOf(userId, ['join', 'invite'])
    const joined = rooms.filter((r) => r.membership === 'join').map((r) => r.room_id)
    const { counts } = await this.unreadCounts(userId, joined, upTo)
    let badge = rooms.length - joined.length
    for (const c of counts.values()) if (c.notification_count > 0) badge++
    return badge
  }

  // ---- Counts for /sync ----

  /**
   * Unread notification and highlight counts of the user in these rooms, with the per-thread split. Where
   * counting went through many events (a room the user does not read), the counts up to `upTo` (a position
   * below which everything has committed) are kept as a checkpoint, so the next count starts there. Also
   * returns each room's exact per-thread counts up to `upTo` (SyncService keeps them for local delivery).
   */
  async unreadCounts(userId: string, roomIds: string[], upTo: number): Promise<UnreadCountsAt> {
    const byRoom = new Map<string, { key: string; scanned: number; threads: Map<string, { n: number; h: number; baseN: number; baseH: number }> }>()
    const roomOf = (roomId: string) => {
      let room = byRoom.get(roomId)
      if (!room) byRoom.set(roomId, (room = { key: '', scanned: 0, threads: new Map() }))
      return room
    }
    for (const row of await this.storage.repos.push.unreadCounts(userId, roomIds, upTo)) {
      const room = roomOf(row.room_id)
      if (row.kind === 'key') {
        room.key = row.key as string
        continue
      }
      room.scanned += row.scanned
      const t = room.threads.get(row.thread_id) ?? { n: 0, h: 0, baseN: 0, baseH: 0 }
      t.n += row.notifications
      t.h += row.highlights
      t.baseN += row.base_notifications
      t.baseH += row.base_highlights
      room.threads.set(row.thread_id, t)
    }
    const counts = new Map<string, UnreadCounts>()
    const exact = new Map<string, ThreadCounts>()
    const checkpoints: Array<{ roomId: string; key: string; upTo: number; counts: Record<string, [number, number]> }> = []
    for (const roomId of roomIds) exact.set(roomId, new Map())
    for (const [roomId, room] of byRoom) {
      const found = unreadFromThreads([...room.threads].map(([threadId, t]) => [threadId, t.n, t.h]))
      if (found) counts.set(roomId, found)
      const base: ThreadCounts = new Map()
      for (const [threadId, t] of room.threads) if (t.baseN !== 0 || t.baseH !== 0) base.set(threadId, [t.baseN, t.baseH])
      exact.set(roomId, base)
      if (room.scanned >= CHECKPOINT_AFTER_ROWS && room.key !== '') checkpoints.push({ roomId, key: room.key, upTo, counts: Object.fromEntries(base) })
    }
    // A failed checkpoint only means counting from further back next time.
    await this.storage.repos.push.putUnreadCheckpoints(userId, checkpoints).catch(() => {})
    return { counts, exact }
  }
}
