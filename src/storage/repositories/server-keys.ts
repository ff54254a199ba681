import type { Queryable } from '../db.ts'

export interface ServerKeyRow {
  key_id: string
  seed: Buffer
  created_ts: number
  expired_ts: number | null
}

export class ServerKeysRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** Inserts a key only if no current key exists yet; concurrent first starts end up sharing one key. */
  async insertIfNoCurrent(row: Omit<ServerKeyRow, 'expired_ts'>): Promise<void> {
    await this.db.query('LOCK TABLE server_signing_keys IN SHARE ROW EXCLUSIVE MODE')
    await this.db.query(
      `INSERT INTO server_signing_keys (key_id, seed, created_ts)
       SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM server_signing_keys WHERE expired_ts IS NULL)`,
      [row.key_id, row.seed, row.created_ts],
    )
  }

  async all(): Promise<ServerKeyRow[]> {
    const { rows } = await this.db.query<ServerKeyRow>('SELECT * FROM server_signing_keys ORDER BY created_ts')
    return rows
  }
}
