import type { Queryable } from '../db.ts'

export interface RegistrationTokenRow {
  token: string
  uses_allowed: number | null
  pending: number
  completed: number
  expiry_time: number | null
}

const VALID = '(uses_allowed IS NULL OR pending + completed < uses_allowed) AND (expiry_time IS NULL OR expiry_time > $1)'

export class RegistrationTokensRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async insert(row: Pick<RegistrationTokenRow, 'token' | 'uses_allowed' | 'expiry_time'>): Promise<boolean> {
    const { rowCount } = await this.db.query(
      'INSERT INTO registration_tokens (token, uses_allowed, expiry_time) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [row.token, row.uses_allowed, row.expiry_time],
    )
    return rowCount === 1
  }

  async get(token: string): Promise<RegistrationTokenRow | null> {
    const { rows } = await this.db.query<RegistrationTokenRow>('SELECT * FROM registration_tokens WHERE token = $1', [token])
    return rows[0] ?? null
  }

  async list(valid: boolean | null, now: number): Promise<RegistrationTokenRow[]> {
    const where = valid === null ? 'true' : valid ? VALID : `NOT (${VALID})`
    const { rows } = await this.db.query<RegistrationTokenRow>(
      `SELECT * FROM registration_tokens WHERE ${where.replaceAll('$1', valid === null ? '0' : '$1')} ORDER BY token`,
      valid === null ? [] : [now],
    )
    return rows
  }

  async isValid(token: string, now: number): Promise<boolean> {
    const { rowCount } = await this.db.query(`SELECT 1 FROM registration_tokens WHERE token = $2 AND ${VALID}`, [now, token])
    return rowCount === 1
  }

  /** Reserves one use (pending) if the token is valid; atomic against concurrent registrations. */
  async reserve(token: string, now: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE registration_tokens SET pending = pending + 1 WHERE token = $2 AND ${VALID}`,
      [now, token],
    )
    return rowCount === 1
  }

  async release(token: string): Promise<void> {
    await this.db.query('UPDATE registration_tokens SET pending = greatest(pending - 1, 0) WHERE token = $1', [token])
  }

  async consume(token: string): Promise<void> {
    await this.db.query(
      'UPDATE registration_tokens SET pending = greatest(pending - 1, 0), completed = completed + 1 WHERE token = $1',
      [token],
    )
  }

  async update(token: string, changes: { uses_allowed?: number | null; expiry_time?: number | null }): Promise<RegistrationTokenRow | null> {
    const { rows } = await this.db.query<RegistrationTokenRow>(
      `UPDATE registration_tokens SET
         uses_allowed = CASE WHEN $2 THEN $3::integer ELSE uses_allowed END,
         expiry_time = CASE WHEN $4 THEN $5::bigint ELSE expiry_time END
       WHERE token = $1 RETURNING *`,
      [token, 'uses_allowed' in changes, changes.uses_allowed ?? null, 'expiry_time' in changes, changes.expiry_time ?? null],
    )
    return rows[0] ?? null
  }

  async delete(token: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM registration_tokens WHERE token = $1', [token])
    return rowCount === 1
  }
}
