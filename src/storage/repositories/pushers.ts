// Pushers and what each has still to deliver (migration 0041).
import { lockName, type Queryable } from '../db.ts'
import type { LeaseRelease } from '../../shared/keyed-workers.ts'
import { RESERVED_POSITION } from './stream.ts'

const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint'

/** A pusher as stored (the columns clients set, and whose device it is). */
export interface PusherRow {
  id: number
  user_id: string
  device_id: string
  kind: string
  app_id: string
  pushkey: string
  app_display_name: string
  device_display_name: string
  profile_tag: string | null
  lang: string
  data: Record<string, unknown>
  pushkey_ts: number
}

/** What POST /pushers/set stores. */
export type PusherWrite = Omit<PusherRow, 'id'>

/** A pusher taken for delivery (PushersRepository.takeLease). */
export interface LeasedPusher extends PusherRow {
  failures: number
  failing_since: number | null
  last_badge: number | null
  /** When the last digest mail left (e-mail pushers). */
  last_mail_ts: number | null
}

/** A queued event of an e-mail pusher (PushersRepository.digestItems). */
export interface DigestItem {
  id: number
  room_id: string | null
  event_id: string | null
  created_ts: number
  /** Whether the user has read it since (always for what is not about an event) (a read receipt, or a later event of their own in its thread). */
  read: boolean
}

/** One queued delivery: about an event (event_id set), or a badge update. */
export interface QueuedPush {
  id: number
  room_id: string | null
  event_id: string | null
  tweaks: Record<string, unknown> | null
  created_ts: number
}

/** See PushersRepository.queueFanout. */
export interface EventPush {
  roomId: string
  eventId: string
  /** The event's stream position (null: the transaction's reserved one, RESERVED_POSITION): the members reached are those joined at it. */
  streamOrdering: number | null
  sender: string
  /** Whether members who run the server-default rules unchanged (and are not named) are notified. */
  roomNotifies: boolean
  roomTweaks: Record<string, unknown>
  /** Members whose outcome was computed on their own (named, rules of their own, an invitee). */
  individuals: Array<{ userId: string; notify: boolean; tweaks: Record<string, unknown> }>
  /** The user an invite names: reached though not joined. */
  invitee: string | null
  now: number
}

const COLUMNS = 'id, user_id, device_id, kind, app_id, pushkey, app_display_name, device_display_name, profile_tag, lang, data, pushkey_ts'

function pusherOf<T extends PusherRow>(row: T): T {
  return { ...row, id: Number(row.id), pushkey_ts: Number(row.pushkey_ts) }
}

/** Users who ignore the sender (an SQL expression) get no push about their events (as their counts leave them out). */
function notIgnoring(sender: string): string {
  return `NOT EXISTS (SELECT 1 FROM account_data d WHERE d.user_id = p.user_id AND d.room_id = '' AND d.type = 'm.ignored_user_list'
                         AND jsonb_typeof(d.content->'ignored_users') = 'object' AND d.content->'ignored_users' ? ${sender})`
}

/** Owns pushers and push_queue (migration 0041). */
export class PushersRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async list(userId: string): Promise<PusherRow[]> {
    const { rows } = await this.db.query<PusherRow>(`SELECT ${COLUMNS} FROM pushers WHERE user_id = $1 ORDER BY id`, [userId])
    return rows.map(pusherOf)
  }

  /** Serialises changes to one user's pushers until the transaction ends (the per-user bound holds). */
  async lockUser(userId: string): Promise<number> {
    await lockName(this.db, 'pushers', userId)
    const { rows } = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM pushers WHERE user_id = $1', [userId])
    return rows[0]?.n ?? 0
  }

  async exists(userId: string, appId: string, pushkey: string): Promise<boolean> {
    const { rowCount } = await this.db.query('SELECT 1 FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3', [userId, appId, pushkey])
    return (rowCount ?? 0) > 0
  }

  /**
   * Creates or updates the user's pusher for (app_id, pushkey); an update moves it to the device that set it
   * and keeps its queue and delivery state.
   */
  async upsert(p: PusherWrite): Promise<void> {
    await this.db.query(
      `INSERT INTO pushers (user_id, device_id, kind, app_id, pushkey, app_display_name, device_display_name, profile_tag, lang, data, pushkey_ts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11)
       ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET device_id = EXCLUDED.device_id, kind = EXCLUDED.kind,
         app_display_name = EXCLUDED.app_display_name, device_display_name = EXCLUDED.device_display_name,
         profile_tag = EXCLUDED.profile_tag, lang = EXCLUDED.lang, data = EXCLUDED.data, pushkey_ts = EXCLUDED.pushkey_ts`,
      [p.user_id, p.device_id, p.kind, p.app_id, p.pushkey, p.app_display_name, p.device_display_name, p.profile_tag, p.lang, JSON.stringify(p.data), p.pushkey_ts],
    )
  }

  /** Deletes the user's pusher for (app_id, pushkey); whether there was one. */
  async remove(userId: string, appId: string, pushkey: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3', [userId, appId, pushkey])
    return (rowCount ?? 0) > 0
  }

  /** Deletes the pushers for (app_id, pushkey) of every other user (POST /pushers/set without append). */
  async removeForOthers(appId: string, pushkey: string, userId: string): Promise<void> {
    await this.db.query('DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3', [appId, pushkey, userId])
  }

  /** Deletes one pusher by its ID (the gateway rejected its pushkey); only while `holder` holds it. */
  async removeLeased(id: number, holder: string): Promise<void> {
    await this.db.query('DELETE FROM pushers WHERE id = $1 AND lease_holder = $2', [id, holder])
  }

  /**
   * Records, in the appended event's transaction, who it notifies (one push_fanout row), if a member it may
   * reach has a pusher: the joined members other than the sender when the room's outcome notifies, else the
   * individuals it notifies, and the user an invite names. The row's ID, or null (nobody to push to); a
   * promise nobody need wait for: the expansion after the commit reads it (expandFanout).
   */
  queueFanout(e: EventPush): Promise<number | null> {
    const ids = e.individuals.map((i) => i.userId)
    const notify = e.individuals.map((i) => i.notify)
    const tweaks = e.individuals.map((i) => JSON.stringify(i.tweaks))
    const reachable = e.roomNotifies
      ? `EXISTS (SELECT 1 FROM room_memberships m JOIN pushers p ON p.user_id = m.user_id
                  WHERE m.room_id = $1 AND (m.membership = 'join' OR m.user_id = $9) AND m.user_id <> $3)`
      : `EXISTS (SELECT 1 FROM pushers p WHERE p.user_id = ANY(ARRAY(SELECT u FROM unnest($5::text[], $6::bool[]) AS i(u, n) WHERE n)))`
    return this.db
      .query<{ id: string }>(
        `INSERT INTO push_fanout (room_id, event_id, stream_ordering, sender, room_notifies, room_tweaks, individual_ids, individual_notify, individual_tweaks, invitee, created_ts)
         SELECT $1, $2, COALESCE($4::bigint, ${RESERVED_POSITION}), $3, $10, $8::jsonb, $5::text[], $6::bool[], $7::jsonb[], $9, $11 WHERE ${reachable}
         RETURNING id`,
        [e.roomId, e.eventId, e.sender, e.streamOrdering, ids, notify, tweaks, JSON.stringify(e.roomTweaks), e.invitee, e.roomNotifies, e.now],
      )
      .then(({ rows }) => (rows[0] === undefined ? null : Number(rows[0].id)))
  }

  /**
   * Expands a push_fanout row (in the caller's transaction): a push_queue row for every pusher of a member the
   * event notifies, then the row goes. The members are those joined once the event was applied: by
   * their membership as of its position (the current one, or, for a membership that changed since, their
   * last membership event up to that position), and the user an invite names while invited; not the sender, nor those ignoring
   * them. Returns the pushers queued for; none when the row is gone or another transaction is expanding it.
   */
  async expandFanout(id: number): Promise<number[]> {
    const { rows } = await this.db.query<{ room_notifies: boolean }>('SELECT room_notifies FROM push_fanout WHERE id = $1 FOR UPDATE SKIP LOCKED', [id])
    const row = rows[0]
    if (row === undefined) return []
    // Without a room-wide notification only the individuals notified can be reached: start from their pushers.
    const members = row.room_notifies
      ? `room_memberships m JOIN pushers p ON p.user_id = m.user_id`
      : `pushers p JOIN room_memberships m ON m.room_id = f.room_id AND m.user_id = p.user_id`
    const only = row.room_notifies ? '' : `AND p.user_id = ANY(ARRAY(SELECT user_id FROM i WHERE notify))`
    const queued = await this.db.query<{ pusher_id: string }>(
      `WITH f AS (SELECT * FROM push_fanout WHERE id = $1),
            i AS (SELECT u.* FROM f, unnest(f.individual_ids, f.individual_notify, f.individual_tweaks) AS u(user_id, notify, tweaks))
       INSERT INTO push_queue (pusher_id, room_id, event_id, tweaks, created_ts)
       SELECT p.id, f.room_id, f.event_id, COALESCE(i.tweaks, f.room_tweaks), f.created_ts
         FROM f CROSS JOIN ${members} LEFT JOIN i ON i.user_id = m.user_id
        WHERE m.room_id = f.room_id AND m.user_id <> f.sender
          AND (CASE WHEN m.user_id = f.invitee THEN m.membership = 'invite'
                    WHEN m.stream_ordering <= f.stream_ordering THEN m.membership = 'join'
                    ELSE (SELECT e.json::jsonb->'content'->>'membership' FROM events e
                           WHERE e.room_id = f.room_id AND e.type = 'm.room.member' AND e.state_key = m.user_id
                             AND e.stream_ordering <= f.stream_ordering AND e.rejected_reason IS NULL
                           ORDER BY e.stream_ordering DESC LIMIT 1) IS NOT DISTINCT FROM 'join' END)
          AND COALESCE(i.notify, f.room_notifies) ${only}
          AND ${notIgnoring('f.sender')}
       RETURNING pusher_id`,
      [id],
    )
    await this.db.query('DELETE FROM push_fanout WHERE id = $1', [id])
    return queued.rows.map((r) => Number(r.pusher_id))
  }

  /** Fan-out rows left unexpanded (their instance died after the commit, or its expansion failed), oldest first. */
  async fanoutsDue(limit: number): Promise<number[]> {
    const { rows } = await this.db.query<{ id: string }>('SELECT id FROM push_fanout ORDER BY id LIMIT $1', [limit])
    return rows.map((r) => Number(r.id))
  }

  /**
   * Queues an unread-count update for each of the user's pushers but e-mail ones (one at most per pusher);
   * returns them. One already queued takes a new place in the queue: a worker that read the count before this
   * change (and is sending it now) then removes nothing (delivered() removes by queue ID) and counts again.
   */
  async enqueueBadge(userId: string, now: number): Promise<number[]> {
    const { rows } = await this.db.query<{ id: string }>(
      `INSERT INTO push_queue (pusher_id, created_ts) SELECT id, $2 FROM pushers WHERE user_id = $1 AND kind <> 'email'
       ON CONFLICT (pusher_id) WHERE event_id IS NULL DO UPDATE SET id = nextval('push_queue_seq'), created_ts = EXCLUDED.created_ts
       RETURNING pusher_id AS id`,
      [userId, now],
    )
    return rows.map((r) => Number(r.id))
  }

  /**
   * Takes the pusher for `holder` until the lease lapses: when its backoff is over and nobody else holds a
   * live lease. Null when it is not free (or gone).
   */
  async takeLease(id: number, holder: string, leaseMs: number): Promise<LeasedPusher | null> {
    const { rows } = await this.db.query<LeasedPusher>(
      `UPDATE pushers SET lease_holder = $2, lease_until = ${NOW_MS} + $3
        WHERE id = $1 AND retry_at <= ${NOW_MS} AND (lease_holder IS NULL OR lease_holder = $2 OR lease_until < ${NOW_MS})
       RETURNING ${COLUMNS}, failures, failing_since, last_badge, last_mail_ts`,
      [id, holder, leaseMs],
    )
    const row = rows[0]
    return row
      ? { ...pusherOf(row), failing_since: row.failing_since === null ? null : Number(row.failing_since), last_mail_ts: row.last_mail_ts === null ? null : Number(row.last_mail_ts) }
      : null
  }

  /** The pusher's oldest queued delivery. */
  async next(id: number): Promise<QueuedPush | null> {
    const { rows } = await this.db.query<QueuedPush>('SELECT id, room_id, event_id, tweaks, created_ts FROM push_queue WHERE pusher_id = $1 ORDER BY id LIMIT 1', [id])
    const row = rows[0]
    return row ? { ...row, id: Number(row.id), created_ts: Number(row.created_ts) } : null
  }

  /**
   * A delivery done (or skipped): removes it, clears the failures, records the badge the gateway heard (when
   * one was sent) and renews the holder's lease, in one statement. False when the lease was lost meanwhile.
   */
  async delivered(id: number, holder: string, queueId: number, badge: number | null, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `WITH gone AS (DELETE FROM push_queue WHERE pusher_id = $1 AND id = $3)
       UPDATE pushers SET lease_until = ${NOW_MS} + $5, failures = 0, failing_since = NULL, retry_at = 0,
              last_badge = COALESCE($4, last_badge)
        WHERE id = $1 AND lease_holder = $2`,
      [id, holder, queueId, badge, leaseMs],
    )
    return rowCount === 1
  }

  /**
   * A failed delivery: one more failure, the next attempt not before min(base · 2^(failures - 1), max) from
   * now, the lease given up. When the pusher has been failing for longer than `giveUpMs`, what is queued for
   * it is dropped (as Synapse gives up on a notification after a day: a gateway fixed later must not deliver
   * a day of stale alerts) and its failures start again. Returns the delay, or null when the lease was lost.
   */
  async failed(id: number, holder: string, baseMs: number, maxMs: number, giveUpMs: number, maxQueued: number): Promise<{ delay: number; gaveUp: boolean } | null> {
    const { rows } = await this.db.query<{ delay: string; gave_up: boolean }>(
      `WITH p AS (
         SELECT id, COALESCE(failing_since, ${NOW_MS}) < ${NOW_MS} - $5 AS give_up FROM pushers WHERE id = $1 AND lease_holder = $2 FOR UPDATE
       ), dropped AS (
         DELETE FROM push_queue q USING p WHERE q.pusher_id = p.id
            AND (p.give_up OR q.id < (SELECT min(id) FROM (SELECT id FROM push_queue WHERE pusher_id = $1 ORDER BY id DESC LIMIT $6) newest))
       )
       UPDATE pushers u SET lease_holder = NULL, lease_until = NULL,
              failures = CASE WHEN p.give_up THEN 0 ELSE u.failures + 1 END,
              failing_since = CASE WHEN p.give_up THEN NULL ELSE COALESCE(u.failing_since, ${NOW_MS}) END,
              retry_at = CASE WHEN p.give_up THEN 0 ELSE ${NOW_MS} + least($4::bigint, ($3::bigint * power(2, least(u.failures, 40)))::bigint) END
         FROM p WHERE u.id = p.id
       RETURNING greatest(0, u.retry_at - ${NOW_MS}) AS delay, p.give_up AS gave_up`,
      [id, holder, baseMs, maxMs, giveUpMs, maxQueued],
    )
    const row = rows[0]
    return row ? { delay: Number(row.delay), gaveUp: row.gave_up } : null
  }

  /**
   * Gives the lease up if nothing is queued for the pusher: 'released'; 'kept' when something is (the lease
   * stays the holder's); 'lost' when the holder no longer holds it (it lapsed and another instance took it):
   * the holder must then deliver nothing more.
   */
  async release(id: number, holder: string): Promise<LeaseRelease> {
    const { rows } = await this.db.query<{ released: boolean }>(
      `WITH idle AS (SELECT NOT EXISTS (SELECT 1 FROM push_queue WHERE pusher_id = $1) AS yes)
       UPDATE pushers SET lease_holder = CASE WHEN idle.yes THEN NULL ELSE lease_holder END,
              lease_until = CASE WHEN idle.yes THEN NULL ELSE lease_until END
         FROM idle
        WHERE id = $1 AND lease_holder = $2
       RETURNING idle.yes AS released`,
      [id, holder],
    )
    const row = rows[0]
    return row === undefined ? 'lost' : row.released ? 'released' : 'kept'
  }

  /** Gives up every lease the holder has (an instance shutting down). */
  async releaseAll(holder: string): Promise<void> {
    await this.db.query('UPDATE pushers SET lease_holder = NULL, lease_until = NULL WHERE lease_holder = $1', [holder])
  }

  /** Pushers with something queued that an instance may deliver to now (backoff over, no live lease). */
  async due(limit: number): Promise<number[]> {
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT p.id FROM (SELECT DISTINCT pusher_id FROM push_queue) q JOIN pushers p ON p.id = q.pusher_id
        WHERE p.retry_at <= ${NOW_MS} AND (p.lease_holder IS NULL OR p.lease_until < ${NOW_MS})
        LIMIT $1`,
      [limit],
    )
    return rows.map((r) => Number(r.id))
  }

  // ---- E-mail pushers (digest mails) ----

  /**
   * The oldest queued deliveries of an e-mail pusher belonging to `userId`, each with whether the user has read
   * it since: at or below their read receipt (m.read or m.read.private, unthreaded or in its thread), or
   * below a later event of their own in its thread, or from before their current join (or they left).
   */
  async digestItems(id: number, userId: string, limit: number): Promise<DigestItem[]> {
    const { rows } = await this.db.query<DigestItem & { id: string; created_ts: string }>(
      `SELECT q.id, q.room_id, q.event_id, q.created_ts,
              q.event_id IS NULL OR COALESCE(e.stream_ordering <= GREATEST(
                (SELECT max(r.event_stream_ordering) FROM receipts r
                  WHERE r.room_id = q.room_id AND r.user_id = $2 AND r.receipt_type IN ('m.read', 'm.read.private')
                    AND (r.thread_id IS NULL OR r.thread_id = COALESCE(s.thread_id, 'main'))),
                (SELECT max(f.stream_ordering) FROM push_read_floors f
                  WHERE f.room_id = q.room_id AND f.user_id = $2 AND f.thread_id IN ('', COALESCE(s.thread_id, 'main')))
              ), false) AS read
         FROM (SELECT * FROM push_queue WHERE pusher_id = $1 ORDER BY id LIMIT $3) q
         LEFT JOIN events e ON e.room_id = q.room_id AND e.event_id = q.event_id
         LEFT JOIN event_push_summary s ON s.room_id = e.room_id AND s.stream_ordering = e.stream_ordering
        ORDER BY q.id`,
      [id, userId, limit],
    )
    return rows.map((r) => ({ ...r, id: Number(r.id), created_ts: Number(r.created_ts) }))
  }

  /** Removes queued deliveries of the pusher (read, or no longer stored) while `holder` holds it. */
  async dropQueued(id: number, holder: string, queueIds: number[]): Promise<void> {
    await this.db.query(
      `DELETE FROM push_queue WHERE pusher_id = $1 AND id = ANY($3::bigint[]) AND EXISTS (SELECT 1 FROM pushers WHERE id = $1 AND lease_holder = $2)`,
      [id, holder, queueIds],
    )
  }

  /** Nothing to mail before `waitMs` from now: the pusher is not due until then, and its lease is given up. */
  async defer(id: number, holder: string, waitMs: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE pushers SET retry_at = ${NOW_MS} + $3, lease_holder = NULL, lease_until = NULL WHERE id = $1 AND lease_holder = $2`,
      [id, holder, Math.max(0, Math.ceil(waitMs))],
    )
    return rowCount === 1
  }

  /**
   * A digest mailed: removes the deliveries it covered, records when it left, clears the failures and renews
   * the holder's lease, in one statement. False when the lease was lost meanwhile.
   */
  async mailed(id: number, holder: string, queueIds: number[], now: number, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `WITH gone AS (DELETE FROM push_queue WHERE pusher_id = $1 AND id = ANY($3::bigint[]))
       UPDATE pushers SET lease_until = ${NOW_MS} + $5, failures = 0, failing_since = NULL, retry_at = 0, last_mail_ts = $4
        WHERE id = $1 AND lease_holder = $2`,
      [id, holder, queueIds, now, leaseMs],
    )
    return rowCount === 1
  }

  /** Stores the hash of a new unsubscribe token of the pusher; its tokens made before `pruneBefore` go. */
  async addUnsubscribeToken(id: number, hash: Buffer, now: number, pruneBefore: number): Promise<void> {
    await this.db.query(
      `WITH pruned AS (DELETE FROM email_unsubscribe_tokens WHERE pusher_id = $1 AND created_ts < $4)
       INSERT INTO email_unsubscribe_tokens (token_hash, pusher_id, created_ts) VALUES ($2, $1, $3)`,
      [id, hash, now, pruneBefore],
    )
  }

  /** The e-mail pusher an unsubscribe token (by its hash) was made for, if it still exists. */
  async unsubscribeTarget(hash: Buffer, notBefore: number): Promise<{ id: number; user_id: string; pushkey: string } | null> {
    const { rows } = await this.db.query<{ id: string; user_id: string; pushkey: string }>(
      `SELECT p.id, p.user_id, p.pushkey FROM email_unsubscribe_tokens t JOIN pushers p ON p.id = t.pusher_id
        WHERE t.token_hash = $1 AND t.created_ts >= $2 AND p.kind = 'email'`,
      [hash, notBefore],
    )
    const row = rows[0]
    return row ? { id: Number(row.id), user_id: row.user_id, pushkey: row.pushkey } : null
  }

  /** Deletes a pusher by its ID; whether it existed. */
  async removeById(id: number): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM pushers WHERE id = $1', [id])
    return (rowCount ?? 0) > 0
  }
}
