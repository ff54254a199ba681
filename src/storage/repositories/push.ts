import { lockName, type Queryable } from '../db.ts'
import { RESERVED_POSITION } from './stream.ts'

/** A user rule or a change to a server-default rule (is_default), as stored. */
export interface PushRuleRow {
  user_id: string
  kind: string
  rule_id: string
  is_default: boolean
  priority: number
  conditions: unknown[] | null
  pattern: string | null
  actions: unknown[] | null
  enabled: boolean | null
}

export interface PushActionInsert {
  user_id: string
  notify: boolean
  highlight: boolean
}

/** The join floor of a member who left: nothing counts for them until they join again. */
const NOT_JOINED = '9223372036854775807'

/** The most mention keys of a room an EventContext lists (roomKeys). */
export const MENTION_KEYS_KEPT = 256

/** See PushRepository.eventContext. */
export interface EventContext {
  memberCount: number
  /** Those of the named users who are joined members, and the joined local members listed under one of the keys. */
  named: string[]
  /**
   * Every key the room's joined local members are listed under (push_mention_keys), or null when there are
   * more than MENTION_KEYS_KEPT: a later body none of whose candidates is here names nobody by them.
   */
  roomKeys: string[] | null
  /** Joined members with a push configuration of their own (the sender too: the context serves any sender). */
  custom: string[]
  /** Their rules, as rulesOf returns them. */
  customRules: PushRuleRow[]
}

/** See PushRepository.recordEvent. */
export interface EventRecord {
  roomId: string
  eventId: string
  /** Null: the transaction's reserved position (RESERVED_POSITION). */
  streamOrdering: number | null
  sender: string
  senderIsLocal: boolean
  /** 'main' or the thread root. */
  threadId: string
  /** The outcome for default members. */
  room: { notify: boolean; highlight: boolean }
  exceptions: PushActionInsert[]
  /** A local user's member event: whether it leaves them joined. */
  member: { userId: string; joined: boolean; keys: string[] } | null
}

/** See PushRepository.notificationsOf. */
export interface NotificationRow {
  room_id: string
  stream_ordering: number
  event_id: string
  highlight: boolean
  read: boolean
}

/** See PushRepository.unreadCounts. */
export interface UnreadRow {
  kind: 'count' | 'checkpoint' | 'key'
  room_id: string
  thread_id: string
  notifications: number
  highlights: number
  base_notifications: number
  base_highlights: number
  scanned: number
  key: string | null
}

/**
 * PushRepository.recordEvent's statement: the event's push summary and exceptions, and the sender's read
 * floor in its thread (an event a user sends is read by them). A member event of a local user ($12, $13)
 * also sets or clears their floor for the room, whether they have rules of their own and their mention
 * keys ($14: listed while joined, migration 0042); a message's
 * statement has no such parts (every part of a statement is set up on each execution, whether or not its
 * condition holds).
 */
function recordEventSql(memberEvent: boolean): string {
  const parts = [
    `pos AS (SELECT COALESCE($2::bigint, ${RESERVED_POSITION}) AS p)`,
    `summary AS (
         INSERT INTO event_push_summary (room_id, stream_ordering, event_id, sender, thread_id, notify, highlight)
         SELECT $1::text, (SELECT p FROM pos), $3::text, $4::text, $5::text, $6::bool, $7::bool WHERE $6::bool OR $7::bool OR cardinality($8::text[]) > 0
         ON CONFLICT DO NOTHING
       )`,
    `exceptions AS (
         INSERT INTO event_push_actions (room_id, user_id, stream_ordering, event_id, thread_id, notify, highlight)
         SELECT $1, u.user_id, (SELECT p FROM pos), $3, $5, u.notify, u.highlight FROM unnest($8::text[], $9::bool[], $10::bool[]) AS u(user_id, notify, highlight)
         ON CONFLICT DO NOTHING
       )`,
    `seen AS (
         INSERT INTO push_read_floors (room_id, user_id, thread_id, stream_ordering) SELECT $1, $4, $5, (SELECT p FROM pos) WHERE $11::bool
         ON CONFLICT (room_id, user_id, thread_id) DO UPDATE SET stream_ordering = GREATEST(push_read_floors.stream_ordering, EXCLUDED.stream_ordering)
       )`,
  ]
  if (!memberEvent) return `WITH ${parts.join(', ')} SELECT 1`
  parts.push(
    `joined AS (
         INSERT INTO push_read_floors (room_id, user_id, thread_id, stream_ordering) SELECT $1, $12, '', (SELECT p FROM pos) WHERE $13::text = 'join'
         ON CONFLICT (room_id, user_id, thread_id) DO UPDATE SET stream_ordering = EXCLUDED.stream_ordering
          WHERE push_read_floors.stream_ordering = ${NOT_JOINED}
       )`,
    `left_room AS (
         INSERT INTO push_read_floors (room_id, user_id, thread_id, stream_ordering) SELECT $1, $12, '', ${NOT_JOINED} WHERE $13::text = 'leave'
         ON CONFLICT (room_id, user_id, thread_id) DO UPDATE SET stream_ordering = EXCLUDED.stream_ordering
       )`,
    `unkeyed AS (
         DELETE FROM push_mention_keys WHERE room_id = $1 AND user_id = $12 AND NOT (key = ANY($14::text[]))
       )`,
    `keyed AS (
         INSERT INTO push_mention_keys (room_id, key, user_id) SELECT $1, k, $12 FROM unnest($14::text[]) AS k WHERE $13::text = 'join'
         ON CONFLICT DO NOTHING
       )`,
    `custom AS (
         INSERT INTO push_custom_members (room_id, user_id) SELECT $1, $12 WHERE $13::text = 'join'
            AND (EXISTS (SELECT 1 FROM push_rules WHERE user_id = $12) OR EXISTS (SELECT 1 FROM push_rule_defaults WHERE user_id = $12))
         ON CONFLICT DO NOTHING
       )`,
  )
  return `WITH ${parts.join(', ')}
       DELETE FROM push_custom_members WHERE $13::text = 'leave' AND room_id = $1 AND user_id = $12`
}
const RECORD_EVENT_SQL = recordEventSql(false)
const RECORD_MEMBER_EVENT_SQL = recordEventSql(true)

/**
 * Owns push_rules, push_rule_defaults, event_push_actions (migration 0004), event_push_summary, push_read_floors
 * and push_custom_members (migration 0009), push_unread_checkpoints (migration 0022), push_mention_keys
 * (migration 0042).
 */
export class PushRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** Serialises changes to one user's rules until the transaction ends (so m.push_rules is never stale). */
  async lockUser(userId: string): Promise<void> {
    await lockName(this.db, 'push_rules', userId)
  }

  /** The rules and default-rule changes of several users in one query; user rules most important first. */
  async rulesOf(userIds: string[]): Promise<PushRuleRow[]> {
    if (userIds.length === 0) return []
    const { rows } = await this.db.query<PushRuleRow>(
      `SELECT user_id, kind, rule_id, false AS is_default, priority, conditions, pattern, actions, enabled
         FROM push_rules WHERE user_id = ANY($1::text[])
       UNION ALL
       SELECT user_id, kind, rule_id, true, 0, NULL, NULL, actions, enabled
         FROM push_rule_defaults WHERE user_id = ANY($1::text[])
       ORDER BY user_id, kind, priority DESC, rule_id`,
      [userIds],
    )
    return rows
  }

  /**
   * The enabled user rules of these users that name one room: its room rule, and override and underride
   * rules with a condition on that room_id (what a room upgrade copies).
   */
  async rulesNamingRoom(userIds: string[], roomId: string): Promise<PushRuleRow[]> {
    if (userIds.length === 0) return []
    const { rows } = await this.db.query<PushRuleRow>(
      `SELECT user_id, kind, rule_id, false AS is_default, priority, conditions, pattern, actions, enabled
         FROM push_rules
        WHERE user_id = ANY($1::text[]) AND enabled IS NOT FALSE
          AND ((kind = 'room' AND rule_id = $2)
            OR (kind IN ('override', 'underride') AND conditions @> jsonb_build_array(jsonb_build_object('key', 'room_id', 'pattern', $2::text))))
        ORDER BY user_id, kind, priority DESC, rule_id`,
      [userIds, roomId],
    )
    return rows
  }

  /** Creates or replaces a user rule (its enabled flag survives a replacement). */
  async upsertRule(userId: string, kind: string, ruleId: string, rule: { priority: number; conditions: unknown[] | null; pattern: string | null; actions: unknown[] }): Promise<void> {
    await this.db.query(
      `INSERT INTO push_rules (user_id, kind, rule_id, priority, conditions, pattern, actions)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb)
       ON CONFLICT (user_id, kind, rule_id) DO UPDATE SET priority = EXCLUDED.priority, conditions = EXCLUDED.conditions,
         pattern = EXCLUDED.pattern, actions = EXCLUDED.actions`,
      [userId, kind, ruleId, rule.priority, rule.conditions === null ? null : JSON.stringify(rule.conditions), rule.pattern, JSON.stringify(rule.actions)],
    )
  }

  /** Renumbers a user's rules of one kind in one statement. */
  async setPriorities(userId: string, kind: string, ruleIds: string[], priorities: number[]): Promise<void> {
    if (ruleIds.length === 0) return
    await this.db.query(
      `UPDATE push_rules p SET priority = v.priority
         FROM unnest($3::text[], $4::int[]) AS v(rule_id, priority)
        WHERE p.user_id = $1 AND p.kind = $2 AND p.rule_id = v.rule_id AND p.priority <> v.priority`,
      [userId, kind, ruleIds, priorities],
    )
  }

  async deleteRule(userId: string, kind: string, ruleId: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM push_rules WHERE user_id = $1 AND kind = $2 AND rule_id = $3', [userId, kind, ruleId])
    return (rowCount ?? 0) > 0
  }

  /** Sets enabled or actions of a user rule; false when there is no such rule. */
  async updateRule(userId: string, kind: string, ruleId: string, change: { enabled?: boolean; actions?: unknown[] }): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE push_rules SET enabled = COALESCE($4, enabled), actions = COALESCE($5::jsonb, actions)
        WHERE user_id = $1 AND kind = $2 AND rule_id = $3`,
      [userId, kind, ruleId, change.enabled ?? null, change.actions === undefined ? null : JSON.stringify(change.actions)],
    )
    return (rowCount ?? 0) > 0
  }

  /** Records the user's change to a server-default rule's enabled flag or actions. */
  async updateDefault(userId: string, kind: string, ruleId: string, change: { enabled?: boolean; actions?: unknown[] }): Promise<void> {
    await this.db.query(
      `INSERT INTO push_rule_defaults (user_id, kind, rule_id, enabled, actions) VALUES ($1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (user_id, kind, rule_id) DO UPDATE SET enabled = COALESCE(EXCLUDED.enabled, push_rule_defaults.enabled),
         actions = COALESCE(EXCLUDED.actions, push_rule_defaults.actions)`,
      [userId, kind, ruleId, change.enabled ?? null, change.actions === undefined ? null : JSON.stringify(change.actions)],
    )
  }

  /**
   * What evaluating an event in a room needs, in one query whatever the room's size: the joined member count
   * (room_summaries, kept by the summary hook that runs before push), which of `named` are joined members, and
   * the rules of the joined members with a push configuration of their own (push_custom_members), the
   * sender's too (the caller leaves them out: one context serves any sender), most important first as
   * rulesOf lists them.
   */
  async eventContext(roomId: string, named: string[], keys: string[]): Promise<EventContext> {
    const { rows } = await this.db.query<{ member_count: number; named: string[]; room_keys: string[] | null; custom: string[]; rules: PushRuleRow[] | null }>(
      `WITH custom AS (
         SELECT c.user_id FROM push_custom_members c
           JOIN room_memberships m ON m.room_id = c.room_id AND m.user_id = c.user_id AND m.membership = 'join'
          WHERE c.room_id = $1
       )
       SELECT COALESCE((SELECT joined_members FROM room_summaries WHERE room_id = $1),
                       (SELECT count(*) FROM room_memberships WHERE room_id = $1 AND membership = 'join'))::int AS member_count,
              ARRAY(SELECT user_id FROM room_memberships WHERE room_id = $1 AND user_id = ANY($2::text[]) AND membership = 'join'
                    UNION
                    SELECT k.user_id FROM push_mention_keys k
                      JOIN room_memberships m ON m.room_id = k.room_id AND m.user_id = k.user_id AND m.membership = 'join'
                     WHERE k.room_id = $1 AND k.key = ANY($3::text[])) AS named,
              (SELECT CASE WHEN count(*) <= ${MENTION_KEYS_KEPT} THEN COALESCE(array_agg(DISTINCT key), '{}') END
                 FROM (SELECT key FROM push_mention_keys WHERE room_id = $1 LIMIT ${MENTION_KEYS_KEPT + 1}) r) AS room_keys,
              ARRAY(SELECT user_id FROM custom) AS custom,
              (SELECT json_agg(r ORDER BY r.user_id, r.kind, r.priority DESC, r.rule_id) FROM (
                 SELECT user_id, kind, rule_id, false AS is_default, priority, conditions, pattern, actions, enabled
                   FROM push_rules WHERE user_id IN (SELECT user_id FROM custom)
                 UNION ALL
                 SELECT user_id, kind, rule_id, true, 0, NULL, NULL, actions, enabled
                   FROM push_rule_defaults WHERE user_id IN (SELECT user_id FROM custom)
              ) r) AS rules`,
      [roomId, named, keys],
    )
    const row = rows[0]
    return { memberCount: row?.member_count ?? 0, named: row?.named ?? [], roomKeys: row?.room_keys ?? null, custom: row?.custom ?? [], customRules: row?.rules ?? [] }
  }

  /**
   * Keeps push_custom_members right for one user after a change to their rules (call under lockUser): a row
   * for each joined room while they have any rule or default-rule change, none otherwise.
   */
  async syncCustomMember(userId: string): Promise<void> {
    await this.db.query(
      `WITH custom AS (
         SELECT EXISTS (SELECT 1 FROM push_rules WHERE user_id = $1) OR EXISTS (SELECT 1 FROM push_rule_defaults WHERE user_id = $1) AS yes
       ), added AS (
         INSERT INTO push_custom_members (room_id, user_id)
         SELECT m.room_id, m.user_id FROM room_memberships m, custom WHERE custom.yes AND m.user_id = $1 AND m.membership = 'join'
         ON CONFLICT DO NOTHING
       )
       DELETE FROM push_custom_members p USING custom WHERE NOT custom.yes AND p.user_id = $1`,
      [userId],
    )
  }

  /**
   * Display names of these joined local members from the room's current m.room.member state, of those listed
   * under one of `keys` (push_mention_keys) only: a name whose key a body lacks cannot match it. The key index
   * drives the read, so it costs what the body names, not how many members are asked about.
   */
  async displayNames(roomId: string, userIds: string[], keys: string[]): Promise<Map<string, string>> {
    if (userIds.length === 0 || keys.length === 0) return new Map()
    const { rows } = await this.db.query<{ user_id: string; displayname: string | null }>(
      `SELECT c.state_key AS user_id, (e.json::jsonb)->'content'->>'displayname' AS displayname
         FROM (SELECT DISTINCT user_id FROM push_mention_keys WHERE room_id = $1 AND key = ANY($3::text[])) k
         JOIN current_state c ON c.room_id = $1 AND c.type = 'm.room.member' AND c.state_key = k.user_id
         JOIN events e ON e.room_id = c.room_id AND e.event_id = c.event_id
        WHERE k.user_id = ANY($2::text[])`,
      [roomId, userIds, keys],
    )
    return new Map(rows.filter((r) => typeof r.displayname === 'string').map((r) => [r.user_id, r.displayname as string]))
  }

  /**
   * Everything an appended event changes for notification counts, in one statement: the room's outcome for
   * default members (written when it notifies, or when someone has an exception), the exceptions, the local
   * sender's own position in the thread (their earlier notifications there count as read), and a local
   * user's member event: a join starts their counts (kept through later joins such as profile changes) and,
   * with rules of their own, lists them in push_custom_members (call under lockUser); leaving stops both.
   * A write: inside the event's transaction, nobody waits for it.
   */
  async recordEvent(r: EventRecord): Promise<void> {
    const values: unknown[] = [
      r.roomId,
      r.streamOrdering,
      r.eventId,
      r.sender,
      r.threadId,
      r.room.notify,
      r.room.highlight,
      r.exceptions.map((e) => e.user_id),
      r.exceptions.map((e) => e.notify),
      r.exceptions.map((e) => e.highlight),
      r.senderIsLocal,
    ]
    if (r.member === null) return this.db.write(RECORD_EVENT_SQL, values)
    const joined = r.member.joined
    await this.db.write(RECORD_MEMBER_EVENT_SQL, [...values, r.member.userId, joined ? 'join' : 'leave', joined ? r.member.keys : []])
  }

  /**
   * Unread notification and highlight counts per room and thread for one user across many rooms, in one
   * query. An event counts if it is after the user's read position in its thread and not sent by the user
   * or by someone they ignore (m.ignored_user_list, as it is now); it counts as the user's exception row says,
   * else as the room's outcome for default members (summed as the room's outcome plus, per exception, the
   * difference it makes). The read position is the latest of: the user's join
   * and latest unthreaded m.read / m.read.private receipt (every thread), and the threaded receipt and the
   * user's own latest event in that thread ('main' or a root).
   *
   * Counting starts after the room's checkpoint (migration 0022) when its key still matches (the same read
   * positions and ignored users), else at the read position. Rows: kind 'count' per thread with what was
   * counted now (`base_*`: the part at or below `upTo`, which a new checkpoint may keep), kind 'checkpoint'
   * per thread of a matching checkpoint, and kind 'key' per room with the key a checkpoint must carry.
   */
  async unreadCounts(userId: string, roomIds: string[], upTo: number): Promise<UnreadRow[]> {
    if (roomIds.length === 0) return []
    const { rows } = await this.db.query<UnreadRow>(
      `WITH marks AS (
         SELECT room_id, COALESCE(thread_id, '') AS thread_id, event_stream_ordering AS pos
           FROM receipts
          WHERE user_id = $1 AND room_id = ANY($2::text[]) AND receipt_type IN ('m.read', 'm.read.private')
         UNION ALL
         SELECT room_id, thread_id, stream_ordering FROM push_read_floors WHERE room_id = ANY($2::text[]) AND user_id = $1
       ), floors AS (
         SELECT room_id, thread_id, max(pos) AS pos FROM marks GROUP BY 1, 2
       ), ignored AS (
         SELECT COALESCE((SELECT content->'ignored_users' FROM account_data
                           WHERE user_id = $1 AND room_id = '' AND type = 'm.ignored_user_list'
                             AND jsonb_typeof(content->'ignored_users') = 'object'), '{}'::jsonb) AS users
       ), starts AS (
         SELECT r.room_id, COALESCE(u.pos, 0) AS pos,
                md5(COALESCE((SELECT string_agg(f.thread_id || ':' || f.pos, ',' ORDER BY f.thread_id) FROM floors f WHERE f.room_id = r.room_id), '')
                    || '|' || (SELECT users::text FROM ignored)) AS key
           FROM unnest($2::text[]) AS r(room_id) LEFT JOIN floors u ON u.room_id = r.room_id AND u.thread_id = ''
       ), resumed AS (
         SELECT b.room_id, b.key, COALESCE(cp.upto, b.pos) AS pos, cp.counts
           FROM starts b LEFT JOIN push_unread_checkpoints cp ON cp.user_id = $1 AND cp.room_id = b.room_id AND cp.floors_key = b.key
       ), counted AS (
         -- Each room's events for default members, then each exception as the difference it makes; both
         -- are index ranges per room, whatever plan a prepared statement settles on (OFFSET 0 keeps them lateral).
         SELECT s.room_id, s.thread_id, s.stream_ordering, s.sender, s.notify::int AS n, s.highlight::int AS h
           FROM resumed b CROSS JOIN LATERAL (
             SELECT * FROM event_push_summary x WHERE x.room_id = b.room_id AND x.stream_ordering > b.pos OFFSET 0) s
         UNION ALL
         SELECT s.room_id, s.thread_id, s.stream_ordering, s.sender, a.notify::int - s.notify::int, a.highlight::int - s.highlight::int
           FROM resumed b CROSS JOIN LATERAL (
             SELECT * FROM event_push_actions x WHERE x.room_id = b.room_id AND x.user_id = $1 AND x.stream_ordering > b.pos OFFSET 0) a
           JOIN event_push_summary s ON s.room_id = a.room_id AND s.stream_ordering = a.stream_ordering
       )
       SELECT 'count' AS kind, c.room_id, c.thread_id, sum(c.n)::int AS notifications, sum(c.h)::int AS highlights,
              COALESCE(sum(c.n) FILTER (WHERE c.stream_ordering <= $3), 0)::int AS base_notifications,
              COALESCE(sum(c.h) FILTER (WHERE c.stream_ordering <= $3), 0)::int AS base_highlights,
              count(*)::int AS scanned, NULL AS key
         FROM counted c
         LEFT JOIN floors t ON t.room_id = c.room_id AND t.thread_id = c.thread_id
         CROSS JOIN ignored i
        WHERE c.stream_ordering > COALESCE(t.pos, 0) AND c.sender <> $1 AND NOT (i.users ? c.sender)
        GROUP BY c.room_id, c.thread_id
       UNION ALL
       SELECT 'checkpoint', r.room_id, e.key, (e.value->>0)::int, (e.value->>1)::int, (e.value->>0)::int, (e.value->>1)::int, 0, NULL
         FROM resumed r CROSS JOIN LATERAL jsonb_each(r.counts) e
       UNION ALL
       SELECT 'key', r.room_id, '', 0, 0, 0, 0, 0, r.key FROM resumed r`,
      [userId, roomIds, upTo],
    )
    return rows
  }

  /**
   * The user's notifications (GET /notifications), newest first, before stream position `before`: the events
   * of their joined rooms since they joined that notify them as their counts in /sync are made (the room's
   * outcome or their exception; not their own events, nor those of users they ignore), each with whether it
   * is read (at or before their receipt in its thread, unthreaded receipts counting for every thread, or
   * their own later event there). Each room is one index range, newest first.
   */
  async notificationsOf(userId: string, before: number, limit: number, onlyHighlight: boolean): Promise<NotificationRow[]> {
    const { rows } = await this.db.query<NotificationRow>(
      `WITH rooms AS (
         SELECT m.room_id, COALESCE(f.stream_ordering, 0) AS since
           FROM room_memberships m
           LEFT JOIN push_read_floors f ON f.room_id = m.room_id AND f.user_id = $1 AND f.thread_id = ''
          WHERE m.user_id = $1 AND m.membership = 'join'
       ), ignored AS (
         SELECT COALESCE((SELECT content->'ignored_users' FROM account_data
                           WHERE user_id = $1 AND room_id = '' AND type = 'm.ignored_user_list'
                             AND jsonb_typeof(content->'ignored_users') = 'object'), '{}'::jsonb) AS users
       ), found AS (
         SELECT n.* FROM rooms r CROSS JOIN LATERAL (
           SELECT s.room_id, s.stream_ordering, s.event_id, s.thread_id, COALESCE(a.highlight, s.highlight) AS highlight
             FROM event_push_summary s
             LEFT JOIN event_push_actions a ON a.room_id = s.room_id AND a.user_id = $1 AND a.stream_ordering = s.stream_ordering
            WHERE s.room_id = r.room_id AND s.stream_ordering > r.since AND s.stream_ordering < $2
              AND s.sender <> $1 AND NOT ((SELECT users FROM ignored) ? s.sender)
              AND COALESCE(a.notify, s.notify) AND (NOT $4::bool OR COALESCE(a.highlight, s.highlight))
            ORDER BY s.stream_ordering DESC LIMIT $3) n
          ORDER BY n.stream_ordering DESC LIMIT $3
       ), marks AS (
         SELECT room_id, COALESCE(thread_id, '') AS thread_id, event_stream_ordering AS pos FROM receipts
          WHERE user_id = $1 AND room_id IN (SELECT room_id FROM found) AND receipt_type IN ('m.read', 'm.read.private')
         UNION ALL
         SELECT room_id, thread_id, stream_ordering FROM push_read_floors
          WHERE room_id IN (SELECT room_id FROM found) AND user_id = $1 AND thread_id <> ''
       )
       SELECT f.room_id, f.stream_ordering, f.event_id, f.highlight,
              f.stream_ordering <= COALESCE((SELECT max(k.pos) FROM marks k WHERE k.room_id = f.room_id AND k.thread_id IN ('', f.thread_id)), 0) AS read
         FROM found f ORDER BY f.stream_ordering DESC`,
      [userId, before, limit, onlyHighlight],
    )
    return rows
  }

  /** Stores unread-count checkpoints (see unreadCounts), replacing the room's previous one. */
  async putUnreadCheckpoints(userId: string, checkpoints: Array<{ roomId: string; key: string; upTo: number; counts: Record<string, [number, number]> }>): Promise<void> {
    if (checkpoints.length === 0) return
    await this.db.query(
      `INSERT INTO push_unread_checkpoints (user_id, room_id, floors_key, upto, counts)
       SELECT $1, c.room_id, c.key, c.upto, c.counts FROM unnest($2::text[], $3::text[], $4::bigint[], $5::jsonb[]) AS c(room_id, key, upto, counts)
       ON CONFLICT (user_id, room_id) DO UPDATE SET floors_key = EXCLUDED.floors_key, upto = EXCLUDED.upto, counts = EXCLUDED.counts
        WHERE push_unread_checkpoints.floors_key <> EXCLUDED.floors_key OR push_unread_checkpoints.upto < EXCLUDED.upto`,
      [userId, checkpoints.map((c) => c.roomId), checkpoints.map((c) => c.key), checkpoints.map((c) => c.upTo), checkpoints.map((c) => JSON.stringify(c.counts))],
    )
  }
}
