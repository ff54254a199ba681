// Who an event notifies, without running the rules once per member. Pure.
//
// The server-default rules read the recipient in four places only: .m.rule.invite_for_me (the member event's
// state_key against the user ID), .m.rule.is_user_mention (the user ID in content.m.mentions.user_ids), and,
// for events without m.mentions, the legacy .m.rule.contains_user_name and .m.rule.contains_display_name (the
// localpart or display name in content.body). Everything else they read (the event, the joined member count,
// the sender's power) is the same for every member. So the rules run once for a "generic" member that no
// event can name, and that outcome holds for every member who runs the default rules unchanged, except the
// few the event names, whose outcome is computed on its own; members with rules of their own are evaluated
// in full. Only outcomes that differ from the generic one are stored per user.
//
// The members a body may name are found by key (mentionKey, mentionCandidates) without reading the room's
// members: the storage lists each joined local member under the keys of their localpart and display name.
import { hasMentions, DEFAULT_MATCH_LIMITS, evaluate, propertyAt, tweaksOf, type MatchLimits, type PushEvent, type RoomFacts } from './evaluate.ts'
import { lowerForGlob } from '../shared/glob.ts'
import { defaultRuleset, type Ruleset } from './rules.ts'

/** Whether an event notifies and highlights someone. */
export interface Decision {
  notify: boolean
  highlight: boolean
}

/** A decision with the tweaks a push gateway is told (sound, highlight…). */
export interface Delivery extends Decision {
  tweaks: Record<string, unknown>
}

/** A member whose outcome is computed on its own: named by the event, or with rules of their own. */
export interface Individual {
  userId: string
  ruleset: Ruleset
  displayName: string | null
}

export interface Plan {
  /** The outcome for every member who runs the default rules and is not named by the event. */
  room: Decision
  /** The members whose outcome differs from `room`. */
  exceptions: Array<Decision & { user_id: string }>
  /** The tweaks of the room's outcome. */
  roomTweaks: Record<string, unknown>
  /** Every individual's own outcome with its tweaks (pushers need the tweaks even where the outcome is the room's). */
  individuals: Array<Delivery & { user_id: string }>
}

/**
 * A user ID no event can name: stored events cannot hold U+0000 (the room writer refuses it and PostgreSQL
 * cannot store it), so it is never in m.mentions.user_ids and never matches a state_key.
 */
export const GENERIC_MEMBER = '\u0000generic'

const genericRuleset = defaultRuleset(GENERIC_MEMBER)

/**
 * The local users whose server-default outcome may differ from the generic one: those in
 * content.m.mentions.user_ids, and a member event's target (also in the form a local user ID takes when it
 * matches the state_key case-insensitively, as .m.rule.invite_for_me compares: local user IDs have lower-case
 * localparts without glob characters, so that is the only other ID the pattern can match).
 */
export function namedLocalUsers(event: Pick<PushEvent, 'type' | 'state_key' | 'content'>, serverName: string): string[] {
  const suffix = `:${serverName}`
  const named = new Set<string>()
  const mentioned = propertyAt(event, 'content.m\\.mentions.user_ids')
  if (Array.isArray(mentioned)) for (const u of mentioned) if (typeof u === 'string' && u.endsWith(suffix)) named.add(u)
  if (event.type === 'm.room.member' && typeof event.state_key === 'string') {
    const target = event.state_key
    if (target.endsWith(suffix)) named.add(target)
    const colon = target.indexOf(':')
    if (target.startsWith('@') && colon > 1 && target.slice(colon + 1).toLowerCase() === serverName.toLowerCase()) {
      named.add(`${target.slice(0, colon).toLowerCase()}${suffix}`)
    }
  }
  return [...named]
}

/** Word characters of content.body matching, as glob.ts has them (after lower-casing: [a-z0-9_]). */
const WORD_RUN = /[a-z0-9_]+/
const WHITE_SPACE = /\s/u

/**
 * The key under which a localpart or display name is found among the words of a body that names it at word
 * boundaries, case-insensitively: the first run of word characters of the lower-cased name (the characters
 * around it in the name are not word characters, nor are those around the match in the body, so the body
 * holds it as a whole run); for a name without word characters, its first character that is not white space
 * (which the body then holds). Null for an empty or blank name.
 */
export function mentionKey(name: string): string | null {
  const lowered = lowerForGlob(name)
  const run = WORD_RUN.exec(lowered)
  if (run) return run[0]
  for (const ch of lowered) if (!WHITE_SPACE.test(ch)) return ch
  return null
}

/** The most distinct keys one body is looked up by (a hostile body only loses its own legacy mentions past it). */
export const MAX_MENTION_CANDIDATES = 1000

/**
 * Every key by which the body of an event without m.mentions may name someone (mentionKey): its distinct runs
 * of word characters and its other characters that are not white space, lower-cased, in the first
 * `maxMatchLength` code units that matching reads; none for an event without a string body, nor for one with
 * m.mentions unless `evenWithMentions` (a user's own contains_display_name rule still reads such a body).
 */
export function mentionCandidates(event: Pick<PushEvent, 'content'>, maxMatchLength: number, evenWithMentions = false): string[] {
  const body = event.content.body
  if (typeof body !== 'string' || (hasMentions(event) && !evenWithMentions)) return []
  const text = lowerForGlob(body.slice(0, maxMatchLength))
  const found = new Set<string>()
  let run = ''
  for (const ch of text) {
    if (found.size >= MAX_MENTION_CANDIDATES) break
    if (ch.length === 1 && WORD_RUN.test(ch)) {
      run += ch
      continue
    }
    if (run !== '') found.add(run)
    run = ''
    if (!WHITE_SPACE.test(ch)) found.add(ch)
  }
  if (run !== '' && found.size < MAX_MENTION_CANDIDATES) found.add(run)
  return [...found]
}

function decide(ruleset: Ruleset, event: PushEvent, facts: RoomFacts, userId: string, displayName: string | null, limits: MatchLimits): Delivery {
  const { notify, highlight, actions } = evaluate(ruleset, event, facts, { userId, displayName }, limits)
  return { notify, highlight, tweaks: tweaksOf(actions) }
}

/**
 * The room's outcome for default members and the exceptions among `individuals` (the named default members
 * with their default ruleset, and the members with rules of their own; never the sender). Each member's
 * matching work is bounded by `limits` (evaluate.ts), so one member's rules cannot slow the send.
 */
export function planEvent(event: PushEvent, facts: RoomFacts, individuals: Individual[], limits: MatchLimits = DEFAULT_MATCH_LIMITS): Plan {
  const { tweaks: roomTweaks, ...room } = decide(genericRuleset, event, facts, GENERIC_MEMBER, null, limits)
  const exceptions: Plan['exceptions'] = []
  const outcomes: Plan['individuals'] = []
  for (const member of individuals) {
    const own = decide(member.ruleset, event, facts, member.userId, member.displayName, limits)
    outcomes.push({ user_id: member.userId, ...own })
    if (own.notify !== room.notify || own.highlight !== room.highlight) exceptions.push({ user_id: member.userId, notify: own.notify, highlight: own.highlight })
  }
  return { room, exceptions, roomTweaks, individuals: outcomes }
}
