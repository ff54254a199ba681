import type { Queryable } from '../db.ts'

export interface UserRow {
  user_id: string
  localpart: string
  password_hash: string | null
  admin: boolean
  deactivated: boolean
  user_type: string | null
  created_ts: number
  is_guest: boolean
}

export class UsersRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** Inserts a user; false when the localpart is taken. */
  async insert(user: Omit<UserRow, 'deactivated' | 'is_guest'> & { is_guest?: boolean }): Promise<boolean> {
    const result = await this.db.query(
      `INSERT INTO users (user_id, localpart, password_hash, admin, user_type, created_ts, is_guest)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [user.user_id, user.localpart, user.password_hash, user.admin, user.user_type, user.created_ts, user.is_guest ?? false],
    )
    return result.rowCount === 1
  }

  /** Turns a guest into a full account with this password: false when the user is not (or no longer) a guest. */
  async upgradeGuest(userId: string, passwordHash: string | null): Promise<boolean> {
    const result = await this.db.query('UPDATE users SET is_guest = false, password_hash = $2 WHERE user_id = $1 AND is_guest', [userId, passwordHash])
    return result.rowCount === 1
  }

  async get(userId: string): Promise<UserRow | null> {
    const { rows } = await this.db.query<UserRow>('SELECT * FROM users WHERE user_id = $1', [userId])
    return rows[0] ?? null
  }

  async exists(userId: string): Promise<boolean> {
    const { rowCount } = await this.db.query('SELECT 1 FROM users WHERE user_id = $1', [userId])
    return rowCount === 1
  }

  async setPasswordHash(userId: string, hash: string | null): Promise<void> {
    await this.db.query('UPDATE users SET password_hash = $2 WHERE user_id = $1', [userId, hash])
  }

  async setAdmin(userId: string, admin: boolean): Promise<void> {
    await this.db.query('UPDATE users SET admin = $2 WHERE user_id = $1', [userId, admin])
  }

  /** `keepPassword`: the hash stays, so the owner's right password still learns the account was deactivated. */
  async markDeactivated(userId: string, keepPassword: boolean): Promise<void> {
    await this.db.query(`UPDATE users SET deactivated = true, password_hash = CASE WHEN $2 THEN password_hash END WHERE user_id = $1`, [userId, keepPassword])
  }

  /** Records that the user asked for their content to be erased (POST /account/deactivate with erase). */
  async markErased(userId: string, now: number): Promise<void> {
    await this.db.query('INSERT INTO erased_users (user_id, erased_ts) VALUES ($1, $2) ON CONFLICT DO NOTHING', [userId, now])
  }

  /** Those of these users who were erased: one primary-key probe per distinct user. */
  async erasedAmong(userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set()
    const { rows } = await this.db.query<{ user_id: string }>('SELECT user_id FROM erased_users WHERE user_id = ANY($1::text[])', [[...new Set(userIds)]])
    return new Set(rows.map((r) => r.user_id))
  }

  /** The highest numeric localpart, for generating user IDs when a client registers without a username. */
  async maxNumericLocalpart(): Promise<number> {
    const { rows } = await this.db.query<{ n: string | null }>(
      `SELECT max(localpart::numeric)::text AS n FROM users WHERE localpart ~ '^[0-9]{1,15}$'`,
    )
    return Number(rows[0]?.n ?? 0)
  }
}
