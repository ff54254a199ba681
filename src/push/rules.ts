// Push rules (client-server API, "Push Rules"): the kinds, the server-default rules as the spec lists them
// ("Predefined Rules", v1.19) plus the legacy mention rules, and the assembly of a user's ruleset from the
// defaults, the user's changes to them and the user's own rules.
//
// The legacy mention rules (.m.rule.contains_display_name, .m.rule.contains_user_name, .m.rule.roomnotif) were
// server defaults until the spec removed them in v1.17. Homestead keeps them, as Synapse does: clients and bots
// that send no m.mentions still reach the people they name in the text, and Element's settings show them as the
// "my display name" / "my username" / "@room" switches. They never apply to an event with m.mentions
// (LEGACY_MENTION_RULES, evaluate.ts), so a client that sends m.mentions gets the spec's behaviour.

export const RULE_KINDS = ['override', 'content', 'room', 'sender', 'underride'] as const
export type RuleKind = (typeof RULE_KINDS)[number]

export type PushAction = string | { set_tweak: string; value?: unknown; [key: string]: unknown }

export interface PushCondition {
  kind: string
  key?: string
  pattern?: string
  is?: string
  value?: unknown
  [key: string]: unknown
}

/** A rule as the API and m.push_rules present it. */
export interface PushRule {
  rule_id: string
  default: boolean
  enabled: boolean
  actions: PushAction[]
  conditions?: PushCondition[]
  pattern?: string
}

export type Ruleset = Record<RuleKind, PushRule[]>

/** A user-defined rule as stored (most important first when listed). */
export interface StoredRule {
  kind: RuleKind
  rule_id: string
  conditions: PushCondition[] | null
  pattern: string | null
  actions: PushAction[]
  enabled: boolean
}

/** A user's change to a server-default rule (null: as the server defines it). */
export interface DefaultOverride {
  kind: RuleKind
  rule_id: string
  enabled: boolean | null
  actions: PushAction[] | null
}

export function isRuleKind(value: string): value is RuleKind {
  return (RULE_KINDS as readonly string[]).includes(value)
}

/** Server-default rule IDs start with a dot (and no user rule may). */
export function isServerDefaultId(ruleId: string): boolean {
  return ruleId.startsWith('.')
}

const SOUND_DEFAULT = { set_tweak: 'sound', value: 'default' }
const HIGHLIGHT = { set_tweak: 'highlight' }

const match = (key: string, pattern: string): PushCondition => ({ kind: 'event_match', key, pattern })

function rule(rule_id: string, conditions: PushCondition[], actions: PushAction[], enabled = true): PushRule {
  return { rule_id, default: true, enabled, conditions, actions }
}

/** The legacy mention rules, skipped for events whose content has m.mentions. */
export const LEGACY_MENTION_RULES: ReadonlySet<string> = new Set(['.m.rule.contains_display_name', '.m.rule.contains_user_name', '.m.rule.roomnotif'])

/** The localpart of a user ID (the whole string when it has no `@…:` shape). */
export function localpartOf(userId: string): string {
  const colon = userId.indexOf(':')
  return userId.startsWith('@') && colon > 0 ? userId.slice(1, colon) : userId
}

/** The server-default override rules in the order of the spec before v1.17 (.m.rule.master first). */
function defaultOverrides(userId: string): PushRule[] {
  return [
    rule('.m.rule.master', [], [], false),
    rule('.m.rule.suppress_notices', [match('content.msgtype', 'm.notice')], []),
    rule(
      '.m.rule.invite_for_me',
      [match('type', 'm.room.member'), match('content.membership', 'invite'), match('state_key', userId)],
      ['notify', SOUND_DEFAULT],
    ),
    rule('.m.rule.member_event', [match('type', 'm.room.member')], []),
    rule(
      '.m.rule.is_user_mention',
      [{ kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: userId }],
      ['notify', SOUND_DEFAULT, HIGHLIGHT],
    ),
    rule('.m.rule.contains_display_name', [{ kind: 'contains_display_name' }], ['notify', SOUND_DEFAULT, HIGHLIGHT]),
    rule(
      '.m.rule.is_room_mention',
      [
        { kind: 'event_property_is', key: 'content.m\\.mentions.room', value: true },
        { kind: 'sender_notification_permission', key: 'room' },
      ],
      ['notify', HIGHLIGHT],
    ),
    rule('.m.rule.roomnotif', [match('content.body', '@room'), { kind: 'sender_notification_permission', key: 'room' }], ['notify', HIGHLIGHT]),
    rule('.m.rule.tombstone', [match('type', 'm.room.tombstone'), match('state_key', '')], ['notify', HIGHLIGHT]),
    rule('.m.rule.reaction', [match('type', 'm.reaction')], []),
    rule('.m.rule.room.server_acl', [match('type', 'm.room.server_acl'), match('state_key', '')], []),
    rule('.m.rule.suppress_edits', [{ kind: 'event_property_is', key: 'content.m\\.relates_to.rel_type', value: 'm.replace' }], []),
  ]
}

/** The server-default underride rules in the spec's order. */
function defaultUnderrides(): PushRule[] {
  return [
    rule('.m.rule.call', [match('type', 'm.call.invite')], ['notify', { set_tweak: 'sound', value: 'ring' }]),
    rule('.m.rule.encrypted_room_one_to_one', [{ kind: 'room_member_count', is: '2' }, match('type', 'm.room.encrypted')], ['notify', SOUND_DEFAULT]),
    rule('.m.rule.room_one_to_one', [{ kind: 'room_member_count', is: '2' }, match('type', 'm.room.message')], ['notify', SOUND_DEFAULT]),
    rule('.m.rule.message', [match('type', 'm.room.message')], ['notify']),
    rule('.m.rule.encrypted', [match('type', 'm.room.encrypted')], ['notify']),
  ]
}

/** The server-default content rule: the user's localpart as a word of the body (legacy). */
function defaultContent(userId: string): PushRule[] {
  const containsUserName: PushRule = { ...rule('.m.rule.contains_user_name', [], ['notify', SOUND_DEFAULT, HIGHLIGHT]), pattern: localpartOf(userId) }
  delete containsUserName.conditions
  return [containsUserName]
}

/** The server-default rules of a user (there are no default room or sender rules). */
export function defaultRuleset(userId: string): Ruleset {
  return { override: defaultOverrides(userId), content: defaultContent(userId), room: [], sender: [], underride: defaultUnderrides() }
}

/** Whether `ruleId` names a server-default rule of that kind. */
export function isDefaultRule(kind: RuleKind, ruleId: string): boolean {
  return DEFAULT_IDS[kind].has(ruleId)
}

const DEFAULT_IDS: Record<RuleKind, Set<string>> = (() => {
  const set = defaultRuleset('@x:x')
  const ids = {} as Record<RuleKind, Set<string>>
  for (const kind of RULE_KINDS) ids[kind] = new Set(set[kind].map((r) => r.rule_id))
  return ids
})()

/** A stored user rule in its API form: conditions for override/underride, pattern for content. */
export function presentRule(stored: StoredRule): PushRule {
  const out: PushRule = { rule_id: stored.rule_id, default: false, enabled: stored.enabled, actions: stored.actions }
  if (stored.kind === 'override' || stored.kind === 'underride') out.conditions = stored.conditions ?? []
  if (stored.kind === 'content') out.pattern = stored.pattern ?? ''
  return out
}

/**
 * The user's whole ruleset in evaluation order: per kind, the user's rules (most important first) before the
 * server-default rules, except .m.rule.master, which always comes first.
 */
export function buildRuleset(userId: string, userRules: StoredRule[], overrides: DefaultOverride[]): Ruleset {
  const defaults = defaultRuleset(userId)
  const changed = new Map(overrides.map((o) => [`${o.kind}\u0000${o.rule_id}`, o]))
  const result = {} as Ruleset
  for (const kind of RULE_KINDS) {
    const own = userRules.filter((r) => r.kind === kind).map(presentRule)
    const base = defaults[kind].map((r) => {
      const o = changed.get(`${kind}\u0000${r.rule_id}`)
      if (!o) return r
      return { ...r, enabled: o.enabled ?? r.enabled, actions: o.actions ?? r.actions }
    })
    if (kind === 'override') {
      const [master, ...rest] = base
      result[kind] = [...(master ? [master] : []), ...own, ...rest]
    } else result[kind] = [...own, ...base]
  }
  return result
}
