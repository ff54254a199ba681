// Push rules and notification counts (client-server API, "Push Notifications"): the rules API over stored
// rules, the m.push_rules account data mirror, rule evaluation for each appended event, and the unread
// counts /sync reports.
import { ROOM_NOTIFICATION_DEFAULT, notificationPowerLevel, powerLevelsContent, userPowerLevel } from '../protocol/auth/index.ts'
import type { AppendedEvent, RoomWriteState } from '../rooms/writer.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, notFound } from '../shared/errors.ts'
import type { PushRuleRow, Repositories, Storage } from '../storage/index.ts'
import type { UnreadCounts } from '../sync/rooms.ts'
import { evaluate, needsDisplayName, type PushEvent, type RoomFacts } from './evaluate.ts'
import { buildRuleset, isDefaultRule, isRuleKind, type DefaultOverride, type PushAction, type PushRule, type RuleKind, type Ruleset, type StoredRule } from './rules.ts'
import { validateActions, validateConditions, validateNewRuleId, validatePattern } from './validate.ts'

export { RULE_KINDS, type RuleKind, type Ruleset, type PushRule } from './rules.ts'

export interface PushOptions {
  storage: Storage
  clock: Clock
  serverName: string
}

/** The body of PUT /pushrules/global/{kind}/{ruleId}. */
export interface RuleBody {
  actions: unknown
  conditions?: unknown
  pattern?: unknown
}

const MAX_USER_RULES_PER_KIND = 500

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

export class Push {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly serverName: string

  constructor(options: PushOptions) {
    this.storage = options.storage
    this.clock = options.clock
    this.serverName = options.serverName
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
    const conditions = kind === 'override' || kind === 'underride' ? validateConditions(body.conditions) : null
    const pattern = kind === 'content' ? validatePattern(body.pattern) : null
    await this.change(userId, async (repos, current) => {
      const own = current.rules.filter((r) => r.kind === kind).map((r) => r.rule_id)
      const exists = own.includes(ruleId)
      if (!exists && own.length >= MAX_USER_RULES_PER_KIND) throw new MatrixError('M_UNKNOWN', `At most ${MAX_USER_RULES_PER_KIND} push rules of one kind`, 400)
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
   * Applies one change to a user's rules and, in the same transaction, publishes the new ruleset as the
   * m.push_rules account data, so /sync tells the user's clients ("Push Rules: Events").
   */
  private async change(userId: string, fn: (repos: Repositories, current: { rules: StoredRule[]; overrides: DefaultOverride[] }) => Promise<void>): Promise<void> {
    await this.storage.streamTransaction(async (repos) => {
      await repos.push.lockUser(userId)
      const current = splitRows(await repos.push.rulesOf([userId])).get(userId) ?? { rules: [], overrides: [] }
      await fn(repos, current)
      const global = await this.ruleset(userId, repos)
      const position = await repos.stream.next('account_data', null, userId)
      await repos.accountData.put(userId, '', 'm.push_rules', { global }, this.clock.now(), position)
    })
  }

  // ---- Evaluation (called by the room writer inside the event's transaction) ----

  /**
   * Runs the push rules of the room's local members for an appended event and stores who it notifies. The
   * sender's own notifications in that thread up to the event count as read (they have seen it).
   */
  async onEventAppended(repos: Repositories, appended: AppendedEvent, room: RoomWriteState): Promise<void> {
    const { event, streamOrdering } = appended
    const senderIsLocal = event.sender.endsWith(`:${this.serverName}`)
    const { userIds, memberCount } = await repos.push.recipients(event.room_id, event.sender, this.serverName)
    const rows: Array<{ user_id: string; notify: boolean; highlight: boolean }> = []
    if (userIds.length > 0) {
      const byUser = splitRows(await repos.push.rulesOf(userIds))
      const rulesets = new Map(userIds.map((u) => [u, buildRuleset(u, byUser.get(u)?.rules ?? [], byUser.get(u)?.overrides ?? [])]))
      const wantNames = userIds.filter((u) => needsDisplayName(rulesets.get(u) as Ruleset))
      const names = await repos.push.displayNames(event.room_id, wantNames)
      const plContent = powerLevelsContent(room.state)
      const facts: RoomFacts = {
        memberCount,
        senderPowerLevel: userPowerLevel(event.sender, room.state, room.version),
        notificationLevel: (key) => notificationPowerLevel(key, plContent, room.version) ?? ROOM_NOTIFICATION_DEFAULT,
      }
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
      for (const userId of userIds) {
        const outcome = evaluate(rulesets.get(userId) as Ruleset, pushEvent, facts, { userId, displayName: names.get(userId) ?? null })
        if (outcome.notify || outcome.highlight) rows.push({ user_id: userId, notify: outcome.notify, highlight: outcome.highlight })
      }
    }
    if (rows.length === 0 && !senderIsLocal) return
    const relation = event.content['m.relates_to']
    const related = typeof relation === 'object' && relation !== null && typeof (relation as { event_id?: unknown }).event_id === 'string'
    const threadId = related ? ((await repos.push.threadRoot(event.room_id, event.event_id)) ?? 'main') : 'main'
    await repos.push.insertActions(event.room_id, event.event_id, streamOrdering, threadId, rows)
    if (senderIsLocal) await repos.push.clearBefore(event.room_id, event.sender, threadId, streamOrdering)
  }

  // ---- Counts for /sync ----

  /** Unread notification and highlight counts of the user in these rooms, with the per-thread split. */
  async unreadCounts(userId: string, roomIds: string[]): Promise<Map<string, UnreadCounts>> {
    const result = new Map<string, UnreadCounts>()
    for (const row of await this.storage.repos.push.unreadCounts(userId, roomIds)) {
      let counts = result.get(row.room_id)
      if (!counts) result.set(row.room_id, (counts = { notification_count: 0, highlight_count: 0 }))
      counts.notification_count += row.notifications
      counts.highlight_count += row.highlights
      if (row.thread_id !== 'main') {
        counts.threads ??= {}
        counts.threads[row.thread_id] = { notification_count: row.notifications, highlight_count: row.highlights }
      }
    }
    return result
  }
}
