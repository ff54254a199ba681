// Push rule evaluation (client-server API, "Push Rules" → "Conditions" and "Actions"): pure, so the same
// code serves every recipient of an event, the tests, and later the pusher.
import { compileGlob, globMatches } from './glob.ts'
import { RULE_KINDS, type PushAction, type PushCondition, type PushRule, type RuleKind, type Ruleset } from './rules.ts'

/** The event as push rules see it (the client-format top-level keys). */
export interface PushEvent {
  event_id: string
  room_id: string
  type: string
  sender: string
  state_key?: string
  content: Record<string, unknown>
  origin_server_ts?: number
  redacts?: string
}

/** What the conditions read about the room at the event. */
export interface RoomFacts {
  /** Joined members of the room. */
  memberCount: number
  senderPowerLevel: number
  /** The power level `notifications[key]` requires (50 when unset). */
  notificationLevel(key: string): number
}

/** What the conditions read about the recipient. */
export interface Recipient {
  userId: string
  /** The recipient's display name in the room, if any. */
  displayName: string | null
}

export interface Outcome {
  notify: boolean
  highlight: boolean
  /** The matched rule's actions with the historical dont_notify/coalesce stripped (null: no rule matched). */
  actions: PushAction[] | null
  ruleId: string | null
}

/**
 * Splits a dot-separated property path (appendices, "Dot-separated property paths"): `\.` is a literal dot,
 * `\\` a literal backslash, any other backslash is itself.
 */
export function splitPath(key: string): string[] {
  const parts: string[] = []
  let current = ''
  for (let i = 0; i < key.length; i++) {
    const ch = key[i]
    const following = key[i + 1]
    if (ch === '\\' && (following === '.' || following === '\\')) {
      current += following
      i++
    } else if (ch === '.') {
      parts.push(current)
      current = ''
    } else current += ch
  }
  parts.push(current)
  return parts
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The value at a dotted path of the event (undefined when any step is absent or not an object). */
export function propertyAt(event: Partial<PushEvent>, key: string): unknown {
  let value: unknown = event
  for (const part of splitPath(key)) {
    if (!isPlainObject(value) || !Object.hasOwn(value, part)) return undefined
    value = value[part]
  }
  return value
}

/** A non-compound canonical JSON value: string, integer in ±(2^53 − 1), boolean or null. */
export function isScalar(value: unknown): value is string | number | boolean | null {
  return value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isSafeInteger(value))
}

const MEMBER_COUNT = /^(==|<=|>=|<|>)?([0-9]+)$/

/** Whether a room_member_count `is` parameter holds for `count` (false when it does not parse). */
export function memberCountMatches(is: unknown, count: number): boolean {
  if (typeof is !== 'string') return false
  const m = MEMBER_COUNT.exec(is)
  if (!m) return false
  const n = Number(m[2])
  switch (m[1]) {
    case '<':
      return count < n
    case '>':
      return count > n
    case '<=':
      return count <= n
    case '>=':
      return count >= n
    default:
      return count === n
  }
}

export function conditionMatches(c: PushCondition, event: PushEvent, room: RoomFacts, recipient: Recipient): boolean {
  switch (c.kind) {
    case 'event_match': {
      if (typeof c.key !== 'string' || typeof c.pattern !== 'string') return false
      const value = propertyAt(event, c.key)
      if (typeof value !== 'string') return false
      return globMatches(compileGlob(c.pattern), value, c.key === 'content.body')
    }
    case 'event_property_is': {
      if (typeof c.key !== 'string' || !isScalar(c.value)) return false
      const value = propertyAt(event, c.key)
      return isScalar(value) && value === c.value
    }
    case 'event_property_contains': {
      if (typeof c.key !== 'string' || !isScalar(c.value)) return false
      const value = propertyAt(event, c.key)
      return Array.isArray(value) && value.some((v) => isScalar(v) && v === c.value)
    }
    case 'contains_display_name': {
      const body = event.content.body
      const name = recipient.displayName
      if (typeof body !== 'string' || !name) return false
      return globMatches(compileGlob(name, true), body, true)
    }
    case 'room_member_count':
      return memberCountMatches(c.is, room.memberCount)
    case 'sender_notification_permission':
      if (typeof c.key !== 'string') return false
      return room.senderPowerLevel >= room.notificationLevel(c.key)
    default:
      // Unrecognised conditions never match (which disables the rule).
      return false
  }
}

function ruleMatches(kind: RuleKind, rule: PushRule, event: PushEvent, room: RoomFacts, recipient: Recipient): boolean {
  switch (kind) {
    case 'room':
      return event.room_id === rule.rule_id
    case 'sender':
      return event.sender === rule.rule_id
    case 'content': {
      const body = event.content.body
      return typeof rule.pattern === 'string' && typeof body === 'string' && globMatches(compileGlob(rule.pattern), body, true)
    }
    default:
      return (rule.conditions ?? []).every((c) => conditionMatches(c, event, room, recipient))
  }
}

/** The actions that matter: the historical dont_notify and coalesce are ignored. */
export function effectiveActions(actions: readonly PushAction[]): PushAction[] {
  return actions.filter((a) => a !== 'dont_notify' && a !== 'coalesce')
}

/** Whether actions notify and highlight (a highlight tweak with no value means true). */
export function outcomeOf(actions: readonly PushAction[]): { notify: boolean; highlight: boolean } {
  let notify = false
  let highlight = false
  for (const a of actions) {
    if (a === 'notify') notify = true
    else if (typeof a === 'object' && a !== null && a.set_tweak === 'highlight') highlight = a.value === undefined || a.value === true
  }
  return { notify, highlight }
}

/** Runs the ruleset in priority order; the first enabled matching rule decides. */
export function evaluate(ruleset: Ruleset, event: PushEvent, room: RoomFacts, recipient: Recipient): Outcome {
  for (const kind of RULE_KINDS) {
    for (const rule of ruleset[kind]) {
      if (!rule.enabled || !ruleMatches(kind, rule, event, room, recipient)) continue
      const actions = effectiveActions(rule.actions)
      return { ...outcomeOf(actions), actions, ruleId: rule.rule_id }
    }
  }
  return { notify: false, highlight: false, actions: null, ruleId: null }
}

/** Whether any enabled rule of the ruleset reads the recipient's display name (so it must be loaded). */
export function needsDisplayName(ruleset: Ruleset): boolean {
  return RULE_KINDS.some((kind) => ruleset[kind].some((r) => r.enabled && (r.conditions ?? []).some((c) => c.kind === 'contains_display_name')))
}
