import type { Queryable } from '../db.ts'

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

export interface UnreadRow {
  room_id: string
  thread_id: string
  notifications: number
  highlights: number
}

/** Owns push_rules, push_rule_defaults and event_push_actions (migration 0004). */
export class PushRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** Serialises changes to one user's rules until the transaction ends (so m.push_rules is never stale). */
  async lockUser(userId: string): Promise<void> {
    await this.db.query(`SELECT pg_advisory_xact_lock(hashtextextended('push_rules:' || $1, 0))`, [userId])
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
   * Who push rules run for when an event is appended: the room's joined members on this server except the
   * sender and those ignoring the sender (m.ignored_user_list), plus the joined member count. One query.
   */
  async recipients(roomId: string, sender: string, serverName: string): Promise<{ userIds: string[]; memberCount: number }> {
    const suffix = `:${serverName}`
    const { rows } = await this.db.query<{ member_count: number; user_ids: string[] }>(
      `SELECT (SELECT count(*)::int FROM room_memberships WHERE room_id = $1 AND membership = 'join') AS member_count,
              ARRAY(
                SELECT m.user_id FROM room_memberships m
                 WHERE m.room_id = $1 AND m.membership = 'join' AND m.user_id <> $2 AND right(m.user_id, $4) = $3
                   AND NOT EXISTS (
                     SELECT 1 FROM account_data a
                      WHERE a.user_id = m.user_id AND a.room_id = '' AND a.type = 'm.ignored_user_list'
                        AND jsonb_typeof(a.content->'ignored_users') = 'object' AND a.content->'ignored_users' ? $2)
              ) AS user_ids`,
      [roomId, sender, suffix, suffix.length],
    )
    return { userIds: rows[0]?.user_ids ?? [], memberCount: rows[0]?.member_count ?? 0 }
  }

  /** Display names of members from the room's current m.room.member state. */
  async displayNames(roomId: string, userIds: string[]): Promise<Map<string, string>> {
    if (userIds.length === 0) return new Map()
    const { rows } = await this.db.query<{ user_id: string; displayname: string | null }>(
      `SELECT c.state_key AS user_id, (e.json::jsonb)->'content'->>'displayname' AS displayname
         FROM current_state c JOIN events e ON e.room_id = c.room_id AND e.event_id = c.event_id
        WHERE c.room_id = $1 AND c.type = 'm.room.member' AND c.state_key = ANY($2::text[])`,
      [roomId, userIds],
    )
    return new Map(rows.filter((r) => typeof r.displayname === 'string').map((r) => [r.user_id, r.displayname as string]))
  }

  /**
   * The thread root an event belongs to: the target of the first m.thread relation found following its
   * relations, at most 3 hops (client-server API, "Receiving notifications"); null for the main timeline.
   */
  async threadRoot(roomId: string, eventId: string): Promise<string | null> {
    const { rows } = await this.db.query<{ root: string }>(
      `WITH RECURSIVE chain AS (
         SELECT relates_to, rel_type, 1 AS hops FROM events WHERE room_id = $1 AND event_id = $2
         UNION ALL
         SELECT e.relates_to, e.rel_type, c.hops + 1 FROM chain c JOIN events e ON e.room_id = $1 AND e.event_id = c.relates_to
          WHERE c.rel_type IS DISTINCT FROM 'm.thread' AND c.hops < 3
       )
       SELECT relates_to AS root FROM chain WHERE rel_type = 'm.thread' AND relates_to IS NOT NULL ORDER BY hops LIMIT 1`,
      [roomId, eventId],
    )
    return rows[0]?.root ?? null
  }

  /** One event's outcomes for all its recipients, in one statement. */
  async insertActions(roomId: string, eventId: string, streamOrdering: number, threadId: string, rows: PushActionInsert[]): Promise<void> {
    if (rows.length === 0) return
    await this.db.query(
      `INSERT INTO event_push_actions (room_id, user_id, stream_ordering, event_id, thread_id, notify, highlight)
       SELECT $1, u.user_id, $2, $3, $4, u.notify, u.highlight FROM unnest($5::text[], $6::bool[], $7::bool[]) AS u(user_id, notify, highlight)
       ON CONFLICT DO NOTHING`,
      [roomId, streamOrdering, eventId, threadId, rows.map((r) => r.user_id), rows.map((r) => r.notify), rows.map((r) => r.highlight)],
    )
  }

  /** The user has seen a thread up to this position (they sent an event there): its earlier notifications go. */
  async clearBefore(roomId: string, userId: string, threadId: string, streamOrdering: number): Promise<void> {
    await this.db.query('DELETE FROM event_push_actions WHERE room_id = $1 AND user_id = $2 AND stream_ordering < $3 AND thread_id = $4', [
      roomId,
      userId,
      streamOrdering,
      threadId,
    ])
  }

  /**
   * Unread notification and highlight counts per room and thread for one user across many rooms, in one
   * query: the events after the user's latest m.read / m.read.private receipt (reads `receipts`, migration
   * 0003). An unthreaded receipt covers every thread; a threaded one ('main' or a root) only its thread.
   */
  async unreadCounts(userId: string, roomIds: string[]): Promise<UnreadRow[]> {
    if (roomIds.length === 0) return []
    const { rows } = await this.db.query<UnreadRow>(
      `WITH reads AS (
         SELECT room_id, COALESCE(thread_id, '') AS thread_id, max(event_stream_ordering) AS pos
           FROM receipts
          WHERE user_id = $1 AND room_id = ANY($2::text[]) AND receipt_type IN ('m.read', 'm.read.private')
          GROUP BY 1, 2
       )
       SELECT r.room_id, a.thread_id,
              count(*) FILTER (WHERE a.notify)::int AS notifications, count(*) FILTER (WHERE a.highlight)::int AS highlights
         FROM unnest($2::text[]) AS r(room_id)
         LEFT JOIN reads u ON u.room_id = r.room_id AND u.thread_id = ''
         JOIN event_push_actions a ON a.room_id = r.room_id AND a.user_id = $1 AND a.stream_ordering > COALESCE(u.pos, 0)
         LEFT JOIN reads t ON t.room_id = a.room_id AND t.thread_id = a.thread_id
        WHERE a.stream_ordering > COALESCE(t.pos, 0)
        GROUP BY r.room_id, a.thread_id`,
      [userId, roomIds],
    )
    return rows
  }
}
