import type { Queryable } from '../db.ts'
import type { LeaseRelease } from '../../shared/keyed-workers.ts'

/** Now, in milliseconds since the epoch, by the database's clock: every instance reads the same one. */
const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint'

export interface QueuedPdu {
  stream_ordering: number
  room_id: string
  /** The event as stored (null if it is gone: acknowledged with the rest, never sent). */
  json: string | null
}

export interface QueuedEdu {
  id: number
  edu_type: string
  content: string
  created_ts: number
}

/**
 * The outbound federation queue (migration 0032): the servers in each room (room_servers, kept by a trigger
 * on room_memberships), the PDUs and EDUs each destination has still to receive, and each destination's
 * backoff and sending lease.
 */
export class FederationOutboundRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** The servers with at least one joined member in the room (ours included), those with the most members first. */
  async serversIn(roomId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ server_name: string }>(
      'SELECT server_name FROM room_servers WHERE room_id = $1 AND joined_count > 0 ORDER BY joined_count DESC, server_name',
      [roomId],
    )
    return rows.map((r) => r.server_name)
  }

  /** The other servers with a member joined to a room the user is joined to (one query over the user's rooms). */
  async serversSharingWith(userId: string, ownServer: string): Promise<string[]> {
    const { rows } = await this.db.query<{ server_name: string }>(
      `SELECT DISTINCT s.server_name FROM room_memberships m JOIN room_servers s ON s.room_id = m.room_id
        WHERE m.user_id = $1 AND m.membership = 'join' AND s.joined_count > 0 AND s.server_name <> $2`,
      [userId, ownServer],
    )
    return rows.map((r) => r.server_name).sort()
  }

  /** Queues a stored event for these destinations, at its stream position (a write: nobody waits for it). */
  async enqueuePdu(roomId: string, eventId: string, destinations: string[]): Promise<void> {
    if (destinations.length === 0) return
    await this.db.write(
      `INSERT INTO federation_pdu_queue (destination, stream_ordering, room_id, event_id)
       SELECT d, e.stream_ordering, e.room_id, e.event_id FROM events e, unnest($3::text[]) d
        WHERE e.room_id = $1 AND e.event_id = $2
       ON CONFLICT DO NOTHING`,
      [roomId, eventId, destinations],
    )
  }

  /**
   * Queues a stored event for the servers with members joined to its room (and `alsoTo`) but those in `except`,
   * in one statement sent at once; the promise gives the destinations (read it once the transaction is over).
   */
  enqueuePduForRoom(roomId: string, eventId: string, except: string[], alsoTo: string | null): Promise<string[]> {
    return this.db
      .query<{ destination: string }>(
        `INSERT INTO federation_pdu_queue (destination, stream_ordering, room_id, event_id)
         SELECT d.server_name, e.stream_ordering, e.room_id, e.event_id
           FROM events e,
                (SELECT server_name FROM room_servers WHERE room_id = $1 AND joined_count > 0
                 UNION SELECT $4::text WHERE $4::text IS NOT NULL) d
          WHERE e.room_id = $1 AND e.event_id = $2 AND d.server_name <> ALL($3::text[])
         ON CONFLICT DO NOTHING
         RETURNING destination`,
        [roomId, eventId, except, alsoTo],
      )
      .then(({ rows }) => rows.map((r) => r.destination))
  }

  /**
   * Queues an EDU for every server with a member joined to the room (`scope` 'room') or sharing a joined room
   * with the user (`scope` 'user'), but `ourServer`: one statement, the destinations its answer.
   */
  async enqueueEduFor(scope: 'room' | 'user', id: string, ourServer: string, eduType: string, content: string, key: string | null, now: number): Promise<string[]> {
    const servers =
      scope === 'room'
        ? `SELECT server_name FROM room_servers WHERE room_id = $1 AND joined_count > 0`
        : `SELECT DISTINCT rs.server_name FROM room_memberships m JOIN room_servers rs ON rs.room_id = m.room_id
            WHERE m.user_id = $1 AND m.membership = 'join' AND rs.joined_count > 0`
    const { rows } = await this.db.query<{ destination: string }>(
      `INSERT INTO federation_edu_queue (destination, edu_type, edu_key, content, created_ts)
       SELECT s.server_name, $3, $4, $5, $6 FROM (${servers}) s WHERE s.server_name <> $2
       ON CONFLICT (destination, edu_type, edu_key) WHERE edu_key IS NOT NULL
       DO UPDATE SET id = nextval('federation_edu_seq'), content = EXCLUDED.content, created_ts = EXCLUDED.created_ts
       RETURNING destination`,
      [id, ourServer, eduType, key, content, now],
    )
    return rows.map((r) => r.destination)
  }


  async enqueueEdu(destination: string, eduType: string, content: string, key: string | null, now: number): Promise<void> {
    await this.db.write(
      `INSERT INTO federation_edu_queue (destination, edu_type, edu_key, content, created_ts) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (destination, edu_type, edu_key) WHERE edu_key IS NOT NULL
       DO UPDATE SET id = nextval('federation_edu_seq'), content = EXCLUDED.content, created_ts = EXCLUDED.created_ts`,
      [destination, eduType, key, content, now],
    )
  }

  /**
   * Takes (or renews) the destination's lease for `holder` until `leaseMs` from now, unless another holder's
   * lease runs or the destination's backoff does: its count of failed transactions when taken, else null.
   */
  async takeLease(destination: string, holder: string, leaseMs: number): Promise<number | null> {
    const { rows } = await this.db.query<{ failures: number }>(
      `INSERT INTO federation_destinations AS d (destination, lease_holder, lease_until) VALUES ($1, $2, ${NOW_MS} + $3)
       ON CONFLICT (destination) DO UPDATE SET lease_holder = $2, lease_until = EXCLUDED.lease_until
        WHERE d.retry_at <= ${NOW_MS} AND (d.lease_holder IS NULL OR d.lease_holder = $2 OR d.lease_until < ${NOW_MS})
       RETURNING d.failures`,
      [destination, holder, leaseMs],
    )
    return rows[0]?.failures ?? null
  }

  /**
   * Bounds a destination's backlog: past `limit` queued events, only the newest of each room is kept (the
   * destination fetches what lies before it as missing prev_events). Returns how many were dropped.
   */
  async collapse(destination: string, limit: number): Promise<number> {
    const { rows } = await this.db.query<{ dropped: number }>(
      `WITH backlog AS (SELECT count(*) AS n FROM (SELECT 1 FROM federation_pdu_queue WHERE destination = $1 LIMIT $2 + 1) x),
            gone AS (
              DELETE FROM federation_pdu_queue q WHERE q.destination = $1 AND (SELECT n FROM backlog) > $2
                 AND EXISTS (SELECT 1 FROM federation_pdu_queue newer
                              WHERE newer.destination = $1 AND newer.room_id = q.room_id AND newer.stream_ordering > q.stream_ordering)
              RETURNING 1)
       SELECT count(*)::int AS dropped FROM gone`,
      [destination, limit],
    )
    return rows[0]?.dropped ?? 0
  }

  /** The oldest queued events of the destination (stream order), with their JSON. */
  async nextPdus(destination: string, limit: number): Promise<QueuedPdu[]> {
    const { rows } = await this.db.query<QueuedPdu>(
      `SELECT q.stream_ordering, q.room_id, e.json FROM federation_pdu_queue q
         LEFT JOIN events e ON e.room_id = q.room_id AND e.event_id = q.event_id
        WHERE q.destination = $1 ORDER BY q.stream_ordering LIMIT $2`,
      [destination, limit],
    )
    return rows
  }

  /** The oldest queued EDUs of the destination. */
  async nextEdus(destination: string, limit: number): Promise<QueuedEdu[]> {
    const { rows } = await this.db.query<QueuedEdu>(
      'SELECT id, edu_type, content, created_ts FROM federation_edu_queue WHERE destination = $1 ORDER BY id LIMIT $2',
      [destination, limit],
    )
    return rows
  }

  /**
   * A transaction the destination accepted (or items given up on): removes what it carried, clears the
   * backoff and renews the holder's lease, in one statement.
   */
  async acknowledge(destination: string, holder: string, pdus: number[], edus: number[], leaseMs: number, sent: boolean): Promise<void> {
    await this.db.query(
      `WITH p AS (DELETE FROM federation_pdu_queue WHERE destination = $1 AND stream_ordering = ANY($3::bigint[])),
            e AS (DELETE FROM federation_edu_queue WHERE destination = $1 AND id = ANY($4::bigint[]))
       UPDATE federation_destinations SET lease_until = ${NOW_MS} + $5,
              failures = CASE WHEN $6 THEN 0 ELSE failures END, retry_at = CASE WHEN $6 THEN 0 ELSE retry_at END,
              last_success_ts = CASE WHEN $6 THEN ${NOW_MS} ELSE last_success_ts END
        WHERE destination = $1 AND lease_holder = $2`,
      [destination, holder, pdus, edus, leaseMs, sent],
    )
  }

  /**
   * A failed transaction: one more failure, the next attempt not before min(base · 2^(failures - 1), max) from
   * now (nor before a later time set already), the lease given up. Returns the delay (ms; null if the lease
   * was no longer the holder's).
   */
  async failed(destination: string, holder: string, baseMs: number, maxMs: number): Promise<number | null> {
    const { rows } = await this.db.query<{ delay: number }>(
      `UPDATE federation_destinations SET failures = failures + 1, lease_holder = NULL, lease_until = NULL,
              retry_at = greatest(retry_at, ${NOW_MS} + least($4::bigint, ($3::bigint * power(2, least(failures, 40)))::bigint))
        WHERE destination = $1 AND lease_holder = $2
       RETURNING greatest(0, retry_at - ${NOW_MS}) AS delay`,
      [destination, holder, baseMs, maxMs],
    )
    return rows[0]?.delay ?? null
  }

  /**
   * Gives the lease up if nothing is queued for the destination: 'released'; 'kept' when something is (the
   * lease stays the holder's); 'lost' when the holder no longer holds it (another instance took it over
   * after it lapsed): the holder must then send nothing more.
   */
  async release(destination: string, holder: string): Promise<LeaseRelease> {
    const { rows } = await this.db.query<{ released: boolean }>(
      `WITH idle AS (
         SELECT NOT EXISTS (SELECT 1 FROM federation_pdu_queue WHERE destination = $1)
            AND NOT EXISTS (SELECT 1 FROM federation_edu_queue WHERE destination = $1) AS yes
       )
       UPDATE federation_destinations SET lease_holder = CASE WHEN idle.yes THEN NULL ELSE lease_holder END,
              lease_until = CASE WHEN idle.yes THEN NULL ELSE lease_until END
         FROM idle
        WHERE destination = $1 AND lease_holder = $2
       RETURNING idle.yes AS released`,
      [destination, holder],
    )
    const row = rows[0]
    return row === undefined ? 'lost' : row.released ? 'released' : 'kept'
  }

  /** Gives up every lease the holder has (an instance shutting down). */
  async releaseAll(holder: string): Promise<void> {
    await this.db.query('UPDATE federation_destinations SET lease_holder = NULL, lease_until = NULL WHERE lease_holder = $1', [holder])
  }

  /**
   * Ends a destination's wait (it was heard from): the next attempt may go at once. Its failures are kept
   * until a transaction goes through (that attempt is a comeback: see collapse).
   */
  /** Ends the destination's backoff; whether it was backed off. */
  async endBackoff(destination: string): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE federation_destinations SET retry_at = 0 WHERE destination = $1 AND retry_at > 0', [destination])
    return (rowCount ?? 0) > 0
  }

  /**
   * Destinations with something queued that an instance may send to now: backoff over, no live lease (its
   * holder may have died). `all`: also those never sent to (found in the queues, e.g. at start-up).
   */
  async due(limit: number, all: boolean): Promise<string[]> {
    const free = `(d.lease_holder IS NULL OR d.lease_until < ${NOW_MS}) AND d.retry_at <= ${NOW_MS}`
    const queued = (alias: string) =>
      `(EXISTS (SELECT 1 FROM federation_pdu_queue q WHERE q.destination = ${alias}) OR EXISTS (SELECT 1 FROM federation_edu_queue q WHERE q.destination = ${alias}))`
    const { rows } = await this.db.query<{ destination: string }>(
      all
        ? `SELECT x.destination FROM (SELECT DISTINCT destination FROM federation_pdu_queue UNION SELECT DISTINCT destination FROM federation_edu_queue) x
             LEFT JOIN federation_destinations d ON d.destination = x.destination
            WHERE d.destination IS NULL OR (${free}) LIMIT $1`
        : `SELECT d.destination FROM federation_destinations d WHERE ${free} AND ${queued('d.destination')} LIMIT $1`,
      [limit],
    )
    return rows.map((r) => r.destination)
  }
}
