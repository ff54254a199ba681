// Validation of push rules sent by clients (PUT /pushrules/global/{kind}/{ruleId} and .../actions): the
// shapes the spec defines, refused with 400 rather than stored and silently never matching.
import { MatrixError, invalidParam, missingParam } from '../shared/errors.ts'
import { isScalar } from './evaluate.ts'
import { isServerDefaultId, type PushAction, type PushCondition, type RuleKind } from './rules.ts'

const MAX_RULE_ID = 255
const MAX_CONDITIONS = 20
const MAX_ACTIONS = 20
/** The string actions: notify, and the historical ones (accepted and stored, ignored when evaluating). */
const STRING_ACTIONS = new Set(['notify', 'dont_notify', 'coalesce'])
const MEMBER_COUNT = /^(==|<=|>=|<|>)?[0-9]{1,15}$/

/**
 * What a user's rules may hold. Every pattern runs against events of all the user's rooms, so its length
 * bounds the work of each send (shared/glob.ts); a pattern names an identifier, an event type or a keyword,
 * all of which fit in 255 characters (identifiers and event types are limited to 255 bytes). Keys and
 * `is` parameters take the same limit.
 */
export interface RuleLimits {
  maxPatternLength: number
  maxRulesPerKind: number
}

export const DEFAULT_RULE_LIMITS: RuleLimits = { maxPatternLength: 255, maxRulesPerKind: 100 }

/** A user rule ID: no leading dot (server-default), no slash or backslash; room/sender IDs shaped as such. */
export function validateNewRuleId(kind: RuleKind, ruleId: string): void {
  if (ruleId.length === 0 || ruleId.length > MAX_RULE_ID) throw invalidParam('rule_id must be 1 to 255 characters')
  if (isServerDefaultId(ruleId)) throw invalidParam("Rule IDs starting with '.' are reserved for server-default rules")
  if (ruleId.includes('/') || ruleId.includes('\\')) throw invalidParam('rule_id may not contain slashes or backslashes')
  // A room ID, or an alias as Synapse also takes (such a rule never matches: events carry room IDs).
  if (kind === 'room' && !/^[!#].+$/.test(ruleId)) throw invalidParam('The rule_id of a room rule is a room ID')
  if (kind === 'sender' && !/^@[^:]+:.+$/.test(ruleId)) throw invalidParam('The rule_id of a sender rule is a user ID')
}

export function validateActions(actions: unknown): PushAction[] {
  if (!Array.isArray(actions)) throw new MatrixError('M_BAD_JSON', "'actions' must be an array")
  if (actions.length > MAX_ACTIONS) throw invalidParam(`At most ${MAX_ACTIONS} actions`)
  for (const a of actions) {
    if (typeof a === 'string') {
      if (!STRING_ACTIONS.has(a)) throw invalidParam(`Unrecognised action: ${a.slice(0, 50)}`)
    } else if (typeof a === 'object' && a !== null && !Array.isArray(a)) {
      const tweak = (a as Record<string, unknown>).set_tweak
      if (typeof tweak !== 'string' || tweak === '') throw invalidParam('An object action must be a set_tweak with the tweak name as a string')
      if (tweak === 'highlight' && Object.hasOwn(a, 'value') && typeof (a as Record<string, unknown>).value !== 'boolean') {
        throw invalidParam('The highlight tweak takes a boolean value')
      }
    } else throw invalidParam('An action is a string or an object')
  }
  return actions as PushAction[]
}

function requireString(c: Record<string, unknown>, name: string, kind: string, limits: RuleLimits): void {
  if (!Object.hasOwn(c, name)) throw missingParam(`A ${kind} condition needs '${name}'`)
  if (typeof c[name] !== 'string') throw invalidParam(`'${name}' of a ${kind} condition must be a string`)
  if ((c[name] as string).length > limits.maxPatternLength) {
    throw invalidParam(`'${name}' of a ${kind} condition is longer than the limit of ${limits.maxPatternLength} characters`)
  }
}

/** Conditions of override/underride rules; unknown kinds are kept (they never match, as the spec says). */
export function validateConditions(conditions: unknown, limits: RuleLimits = DEFAULT_RULE_LIMITS): PushCondition[] {
  if (conditions === undefined) return []
  if (!Array.isArray(conditions)) throw new MatrixError('M_BAD_JSON', "'conditions' must be an array")
  if (conditions.length > MAX_CONDITIONS) throw invalidParam(`At most ${MAX_CONDITIONS} conditions`)
  for (const c of conditions) {
    if (typeof c !== 'object' || c === null || Array.isArray(c)) throw invalidParam('A condition is an object')
    const cond = c as Record<string, unknown>
    if (typeof cond.kind !== 'string' || cond.kind === '') throw missingParam("A condition needs a 'kind'")
    switch (cond.kind) {
      case 'event_match':
        requireString(cond, 'key', cond.kind, limits)
        requireString(cond, 'pattern', cond.kind, limits)
        break
      case 'event_property_is':
      case 'event_property_contains':
        requireString(cond, 'key', cond.kind, limits)
        if (!Object.hasOwn(cond, 'value')) throw missingParam(`A ${cond.kind} condition needs 'value'`)
        if (!isScalar(cond.value)) throw invalidParam("'value' must be a string, an integer, a boolean or null")
        break
      case 'room_member_count':
        requireString(cond, 'is', cond.kind, limits)
        if (!MEMBER_COUNT.test(cond.is as string)) throw invalidParam("'is' must be an integer, optionally prefixed by ==, <, >, >= or <=")
        break
      case 'sender_notification_permission':
        requireString(cond, 'key', cond.kind, limits)
        break
    }
  }
  return conditions as PushCondition[]
}

/** The pattern of a content rule. */
export function validatePattern(pattern: unknown, limits: RuleLimits = DEFAULT_RULE_LIMITS): string {
  if (pattern === undefined) throw missingParam("A content rule needs a 'pattern'")
  if (typeof pattern !== 'string') throw invalidParam("'pattern' must be a string")
  if (pattern.length === 0) throw invalidParam("'pattern' must not be empty")
  if (pattern.length > limits.maxPatternLength) throw invalidParam(`'pattern' is longer than the limit of ${limits.maxPatternLength} characters`)
  return pattern
}
