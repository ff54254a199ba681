import type { Queryable } from '../db.ts'

export type TxnClaim = { claimed: true } | { claimed: false; response: string | null }

/** Owns `federation_inbound_txns` (migration 0031): transactions received, per origin. */
export class FederationTxnsRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /**
   * Claims a transaction for processing: a new one, or one whose claim dates from before `staleBefore`
   * and was never answered (its instance died). Otherwise its stored response, or null while another
   * instance is processing it.
   */
  async claim(origin: string, txnId: string, now: number, staleBefore: number): Promise<TxnClaim> {
    const { rowCount } = await this.db.query(
      `INSERT INTO federation_inbound_txns (origin, txn_id, claimed_ts) VALUES ($1, $2, $3)
       ON CONFLICT (origin, txn_id) DO UPDATE SET claimed_ts = EXCLUDED.claimed_ts
        WHERE federation_inbound_txns.response IS NULL AND federation_inbound_txns.claimed_ts < $4`,
      [origin, txnId, now, staleBefore],
    )
    if (rowCount === 1) return { claimed: true }
    const { rows } = await this.db.query<{ response: string | null }>(
      'SELECT response FROM federation_inbound_txns WHERE origin = $1 AND txn_id = $2',
      [origin, txnId],
    )
    return { claimed: false, response: rows[0]?.response ?? null }
  }

  /** Stores the answer of a claimed transaction. */
  async complete(origin: string, txnId: string, response: string): Promise<void> {
    await this.db.query('UPDATE federation_inbound_txns SET response = $3 WHERE origin = $1 AND txn_id = $2', [origin, txnId, response])
  }

  /** Gives up a claim without an answer (processing failed), so the sender's retry processes it again. */
  async release(origin: string, txnId: string): Promise<void> {
    await this.db.query('DELETE FROM federation_inbound_txns WHERE origin = $1 AND txn_id = $2 AND response IS NULL', [origin, txnId])
  }

  /** Forgets transactions claimed before a time. */
  async prune(before: number): Promise<number> {
    const { rowCount } = await this.db.query('DELETE FROM federation_inbound_txns WHERE claimed_ts < $1', [before])
    return rowCount ?? 0
  }
}
