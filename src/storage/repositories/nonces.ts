import type { Queryable } from '../db.ts'

export class NoncesRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async insert(nonce: string, now: number): Promise<void> {
    await this.db.query('INSERT INTO shared_secret_nonces (nonce, created_ts) VALUES ($1, $2)', [nonce, now])
  }

  /** Uses a nonce once: true if it existed and was fresh. Old ones are swept on the way. */
  async consume(nonce: string, notBefore: number): Promise<boolean> {
    await this.db.query('DELETE FROM shared_secret_nonces WHERE created_ts < $1', [notBefore])
    const { rowCount } = await this.db.query('DELETE FROM shared_secret_nonces WHERE nonce = $1 AND created_ts >= $2', [nonce, notBefore])
    return rowCount === 1
  }
}
