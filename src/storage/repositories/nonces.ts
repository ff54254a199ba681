import type { Queryable } from '../db.ts'

export class NoncesRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /**
   * Stores a nonce, and in the same statement drops the expired ones and the oldest beyond `max`, so the
   * table stays small whoever asks for nonces.
   */
  async insert(nonce: string, now: number, notBefore: number, max: number): Promise<void> {
    await this.db.query(
      `WITH expired AS (DELETE FROM shared_secret_nonces WHERE created_ts < $3),
            surplus AS (
              DELETE FROM shared_secret_nonces WHERE nonce IN (
                SELECT nonce FROM shared_secret_nonces WHERE created_ts >= $3 ORDER BY created_ts DESC, nonce OFFSET $4))
       INSERT INTO shared_secret_nonces (nonce, created_ts) VALUES ($1, $2)`,
      [nonce, now, notBefore, max - 1],
    )
  }

  /** Uses a nonce once: true if it existed and was fresh. Old ones are swept on the way. */
  async consume(nonce: string, notBefore: number): Promise<boolean> {
    await this.db.query('DELETE FROM shared_secret_nonces WHERE created_ts < $1', [notBefore])
    const { rowCount } = await this.db.query('DELETE FROM shared_secret_nonces WHERE nonce = $1 AND created_ts >= $2', [nonce, notBefore])
    return rowCount === 1
  }
}
