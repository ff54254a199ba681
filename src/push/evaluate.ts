// Push rule evaluation (client-server API, "Push Rules" → "Conditions" and "Actions"): pure, so the same
// code serves every recipient of an event, the tests, and later the pusher.
import { compileGlob, globCost, globMatches, lowerForGlob, type CompiledGlob } from '../shared/glob.ts'
import { LEGACY_MENTION_RULES, RULE_KINDS, type PushAction, type PushCondition, type PushRule, type RuleKind, type Ruleset } from './rules.ts'

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

/**
 * What bounds the matching work of one event, so that no member's rules can slow a send: only the first
 * `maxMatchLength` code units of a value take part in glob matching, one recipient's rules may spend at
 * most `budget` word steps of the matcher (text length × pattern words, see shared/glob.ts) on one event,
 * and all recipients together at most `eventBudget` (default ten recipients' worth), so that many accounts
 * with rules of their own in one room cannot add up to a slow send either; past either, the glob conditions
 * left do not match. Answers already computed for the event (the same pattern on the same key, for another
 * member or rule) cost nothing.
 */
export interface MatchLimits {
  maxMatchLength: number
  budget: number
  eventBudget?: number
}

export const DEFAULT_MATCH_LIMITS: MatchLimits = { maxMatchLength: 16_384, budget: 1_000_000 }

/** What one recipient's evaluation may still spend. */
export interface MatchBudget {
  left: number
  readonly limits: MatchLimits
}

export function newBudget(limits: MatchLimits = DEFAULT_MATCH_LIMITS): MatchBudget {
  return { left: limits.budget, limits }
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

// Patterns recur across events (the default rules, each member's own): compiled once each, up to a bound.
const compiled = new Map<string, CompiledGlob>()
const COMPILED_LIMIT = 4000

function compiledGlob(pattern: string, literal: boolean): CompiledGlob {
  const cacheKey = (literal ? 'L' : 'G') + pattern
  let glob = compiled.get(cacheKey)
  if (!glob) {
    // Drop the oldest entry rather than all: a full cache must not turn into a compile per pattern per event.
    if (compiled.size >= COMPILED_LIMIT) compiled.delete(compiled.keys().next().value as string)
    glob = compileGlob(pattern, { literal })
    compiled.set(cacheKey, glob)
  }
  return glob
}

/** Per event, shared by every recipient: each key's value as matched (lower-cased and cut once), each answer. */
interface EventMatches {
  values: Map<string, string | null>
  answers: Map<string, boolean>
  /** What every recipient together may still spend on this event. */
  left: number
}
const perEvent = new WeakMap<PushEvent, EventMatches>()

/** Whether `pattern` matches the string at `key` (words: content.body's word-boundary matching). */
function patternMatches(event: PushEvent, key: string, pattern: string, literal: boolean, budget: MatchBudget): boolean {
  let matches = perEvent.get(event)
  if (!matches) {
    const left = budget.limits.eventBudget ?? budget.limits.budget * 10
    perEvent.set(event, (matches = { values: new Map(), answers: new Map(), left }))
  }
  let text = matches.values.get(key)
  if (text === undefined) {
    const value = propertyAt(event, key)
    text = typeof value === 'string' ? lowerForGlob(value.slice(0, budget.limits.maxMatchLength)) : null
    matches.values.set(key, text)
  }
  if (text === null) return false
  const words = key === 'content.body'
  const answerKey = `${literal ? 'L' : 'G'}${words ? 'W' : 'V'}${key.length}:${key}${pattern}`
  const known = matches.answers.get(answerKey)
  if (known !== undefined) return known
  const glob = compiledGlob(pattern, literal)
  const cost = words || glob.exact === null ? globCost(glob, text.length) : 1
  if (cost > budget.left || cost > matches.left) return false
  budget.left -= cost
  matches.left -= cost
  const answer = globMatches(glob, text, words)
  matches.answers.set(answerKey, answer)
  return answer
}

export function conditionMatches(c: PushCondition, event: PushEvent, room: RoomFacts, recipient: Recipient, budget: MatchBudget = newBudget()): boolean {
  switch (c.kind) {
    case 'event_match': {
      if (typeof c.key !== 'string' || typeof c.pattern !== 'string') return false
      return patternMatches(event, c.key, c.pattern, false, budget)
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
      const name = recipient.displayName
      if (!name) return false
      return patternMatches(event, 'content.body', name, true, budget)
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

function ruleMatches(kind: RuleKind, rule: PushRule, event: PushEvent, room: RoomFacts, recipient: Recipient, budget: MatchBudget): boolean {
  switch (kind) {
    case 'room':
      return event.room_id === rule.rule_id
    case 'sender':
      return event.sender === rule.rule_id
    case 'content':
      return typeof rule.pattern === 'string' && patternMatches(event, 'content.body', rule.pattern, false, budget)
    default:
      return (rule.conditions ?? []).every((c) => conditionMatches(c, event, room, recipient, budget))
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

/**
 * The tweaks of actions, as a push gateway receives them (push gateway API, Device.tweaks): each set_tweak's
 * value, a highlight without a value being true.
 */
export function tweaksOf(actions: readonly PushAction[] | null): Record<string, unknown> {
  const tweaks: Record<string, unknown> = {}
  for (const a of actions ?? []) {
    if (typeof a !== 'object' || a === null || typeof a.set_tweak !== 'string') continue
    tweaks[a.set_tweak] = a.value === undefined && a.set_tweak === 'highlight' ? true : a.value
  }
  return tweaks
}

/** Whether the event's content has m.mentions (then the legacy mention rules do not apply, rules.ts). */
export function hasMentions(event: Pick<PushEvent, 'content'>): boolean {
  return Object.hasOwn(event.content, 'm.mentions')
}

/**
 * Runs the ruleset in priority order; the first enabled matching rule decides. The legacy mention rules are
 * passed over for an event with m.mentions.
 */
export function evaluate(ruleset: Ruleset, event: PushEvent, room: RoomFacts, recipient: Recipient, limits: MatchLimits = DEFAULT_MATCH_LIMITS): Outcome {
  const budget = newBudget(limits)
  const skipLegacy = hasMentions(event)
  for (const kind of RULE_KINDS) {
    for (const rule of ruleset[kind]) {
      if (!rule.enabled || (skipLegacy && rule.default && LEGACY_MENTION_RULES.has(rule.rule_id))) continue
      if (!ruleMatches(kind, rule, event, room, recipient, budget)) continue
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
