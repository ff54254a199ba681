import type { Queryable } from '../db.ts'

export interface ToDeviceInsert {
  user_id: string
  /** A device ID, or '*' for every device of the user. */
  device_id: string
  content: string
}

export interface ToDeviceRow {
  position: number
  sender: string
  type: string
  content: string
}

/** To-device messages queued per device, and the transaction IDs of the requests that sent them. */
export class ToDeviceRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** Records a (user, device, txnId); false when it was already recorded (a retry). */
  async recordTxn(userId: string, deviceId: string, txnId: string, now: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      'INSERT INTO to_device_txns (user_id, device_id, txn_id, created_ts) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [userId, deviceId, txnId, now],
    )
    return rowCount === 1
  }

  /**
   * Queues the messages for existing devices ('*' expands to every device of the user), each at its own
   * stream position in request order; returns the users that received at least one.
   */
  async enqueue(sender: string, type: string, messages: ToDeviceInsert[]): Promise<string[]> {
    if (messages.length === 0) return []
    const { rows } = await this.db.query<{ user_id: string }>(
      `WITH m AS (
         SELECT * FROM unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS m(user_id, device_id, content, ord)
       ), targets AS (
         SELECT d.user_id, d.device_id, m.content, m.ord FROM m
           JOIN devices d ON d.user_id = m.user_id AND (m.device_id = '*' OR d.device_id = m.device_id)
       ), inserted AS (
         -- PostgreSQL evaluates nextval after the sort, so positions follow the request's order.
         INSERT INTO to_device_messages (user_id, device_id, position, sender, type, content)
         SELECT user_id, device_id, nextval('stream_seq'), $1, $2, content FROM targets ORDER BY ord, device_id
         RETURNING user_id
       )
       SELECT DISTINCT user_id FROM inserted`,
      [sender, type, messages.map((m) => m.user_id), messages.map((m) => m.device_id), messages.map((m) => m.content)],
    )
    return rows.map((r) => r.user_id)
  }

  /** Deletes what the device has acknowledged (positions up to `upTo`). */
  async acknowledge(userId: string, deviceId: string, upTo: number): Promise<void> {
    await this.db.query('DELETE FROM to_device_messages WHERE user_id = $1 AND device_id = $2 AND position <= $3', [userId, deviceId, upTo])
  }

  /** The device's messages in (after, upTo], oldest first. */
  async pending(userId: string, deviceId: string, after: number, upTo: number, limit: number): Promise<ToDeviceRow[]> {
    const { rows } = await this.db.query<ToDeviceRow>(
      `SELECT position, sender, type, content FROM to_device_messages
        WHERE user_id = $1 AND device_id = $2 AND position > $3 AND position <= $4
        ORDER BY position LIMIT $5`,
      [userId, deviceId, after, upTo, limit],
    )
    return rows
  }

  /** Records the message_id of an m.direct_to_device EDU from `origin`; false when it came before. */
  async recordRemoteMessage(origin: string, messageId: string, now: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      'INSERT INTO to_device_federation_ids (origin, message_id, received_ts) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [origin, messageId, now],
    )
    return rowCount === 1
  }

  /** Forgets transaction IDs (and federation message IDs) older than a time (retries come within minutes). */
  async pruneTxns(before: number): Promise<number> {
    const { rowCount } = await this.db.query('DELETE FROM to_device_txns WHERE created_ts < $1', [before])
    const remote = await this.db.query('DELETE FROM to_device_federation_ids WHERE received_ts < $1', [before])
    return (rowCount ?? 0) + (remote.rowCount ?? 0)
  }
}
