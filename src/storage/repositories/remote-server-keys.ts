import type { Queryable } from '../db.ts'

export interface RemoteServerKeyRow {
  server_name: string
  key_id: string
  verify_key: string
  valid_until_ts: number
  expired_ts: number | null
  from_server: string
  fetched_ts: number
  key_json: string
}

export class RemoteServerKeysRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /**
   * Stores the keys of one answer (one statement). The server's own answer replaces what is stored
   * (it may have retired a key); a notary's answer only extends a key's validity.
   */
  async store(rows: RemoteServerKeyRow[]): Promise<void> {
    if (rows.length === 0) return
    const column = <K extends keyof RemoteServerKeyRow>(k: K) => rows.map((r) => r[k])
    await this.db.query(
      `INSERT INTO remote_server_keys (server_name, key_id, verify_key, valid_until_ts, expired_ts, from_server, fetched_ts, key_json)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[], $8::text[])
       ON CONFLICT (server_name, key_id) DO UPDATE SET
         verify_key = excluded.verify_key, valid_until_ts = excluded.valid_until_ts, expired_ts = excluded.expired_ts,
         from_server = excluded.from_server, fetched_ts = excluded.fetched_ts, key_json = excluded.key_json
       WHERE excluded.from_server = excluded.server_name OR excluded.valid_until_ts > remote_server_keys.valid_until_ts`,
      [
        column('server_name'), column('key_id'), column('verify_key'), column('valid_until_ts'), column('expired_ts'),
        column('from_server'), column('fetched_ts'), column('key_json'),
      ],
    )
  }

  /** One stored key, without its document (the request-authentication path). */
  async get(serverName: string, keyId: string): Promise<Pick<RemoteServerKeyRow, 'verify_key' | 'valid_until_ts' | 'expired_ts'> | null> {
    const { rows } = await this.db.query<Pick<RemoteServerKeyRow, 'verify_key' | 'valid_until_ts' | 'expired_ts'>>(
      'SELECT verify_key, valid_until_ts, expired_ts FROM remote_server_keys WHERE server_name = $1 AND key_id = $2',
      [serverName, keyId],
    )
    return rows[0] ?? null
  }

  /** The stored keys of one server (a server has a handful; the primary key serves the lookup). */
  async forServer(serverName: string): Promise<RemoteServerKeyRow[]> {
    const { rows } = await this.db.query<RemoteServerKeyRow>('SELECT * FROM remote_server_keys WHERE server_name = $1', [serverName])
    return rows
  }
}
