import type { Queryable } from '../db.ts'

export interface DirectoryUser {
  user_id: string
  display_name: string | null
  avatar_url: string | null
}

/** Owns `user_directory_rooms` (migration 0006) and `user_directory_remote` (0037); searches `profiles` through its directory_vector column. */
export class UserDirectoryRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async setJoinRule(roomId: string, joinRule: string | null): Promise<void> {
    await this.db.query(
      `INSERT INTO user_directory_rooms (room_id, join_rule) VALUES ($1, $2)
       ON CONFLICT (room_id) DO UPDATE SET join_rule = EXCLUDED.join_rule`,
      [roomId, joinRule],
    )
  }

  async setHistoryVisibility(roomId: string, visibility: string | null): Promise<void> {
    await this.db.query(
      `INSERT INTO user_directory_rooms (room_id, history_visibility) VALUES ($1, $2)
       ON CONFLICT (room_id) DO UPDATE SET history_visibility = EXCLUDED.history_visibility`,
      [roomId, visibility],
    )
  }

  /**
   * Other servers' users as their latest join shows them (user_directory_remote); users of this server (who
   * have a users row) are left out. Longer names than a profile may hold are cut to its 256 characters.
   */
  async putRemoteProfiles(rows: Array<{ userId: string; displayName: string | null; avatarUrl: string | null }>): Promise<void> {
    if (rows.length === 0) return
    await this.db.query(
      `INSERT INTO user_directory_remote (user_id, display_name, avatar_url)
       SELECT DISTINCT ON (x.u) x.u, left(x.d, 256), left(x.a, 1024) FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS x(u, d, a, i)
        WHERE NOT EXISTS (SELECT 1 FROM users WHERE users.user_id = x.u)
        ORDER BY x.u, x.i DESC
       ON CONFLICT (user_id) DO UPDATE SET display_name = EXCLUDED.display_name, avatar_url = EXCLUDED.avatar_url`,
      [rows.map((r) => r.userId), rows.map((r) => r.displayName), rows.map((r) => r.avatarUrl)],
    )
  }

  /**
   * Users whose user ID or display name has every lexeme as a word prefix — this server's (not deactivated),
   * and other servers' (user_directory_remote) — who share a joined room with `userId` or are joined to a
   * public or world-readable room this server is in. The text indexes narrow the candidates first; the room
   * conditions are checked per candidate through the membership indexes. Users sharing a room with the
   * searcher rank first (as in Synapse), then text rank, then those with a display name and avatar.
   */
  async search(userId: string, lexemes: string[], limit: number, serverName: string): Promise<DirectoryUser[]> {
    if (lexemes.length === 0) return []
    const { rows } = await this.db.query<DirectoryUser>(
      `WITH candidates AS (
         SELECT p.user_id,
                CASE WHEN jsonb_typeof(p.fields -> 'displayname') = 'string' THEN p.fields ->> 'displayname' END AS display_name,
                CASE WHEN jsonb_typeof(p.fields -> 'avatar_url') = 'string' AND p.fields ->> 'avatar_url' <> '' THEN p.fields ->> 'avatar_url' END AS avatar_url,
                ts_rank(p.directory_vector, prefix_tsquery($2::text[])) AS rank
           FROM profiles p JOIN users u ON u.user_id = p.user_id
          WHERE p.directory_vector @@ prefix_tsquery($2::text[]) AND NOT u.deactivated
         UNION ALL
         SELECT r.user_id, r.display_name, NULLIF(r.avatar_url, ''), ts_rank(r.directory_vector, prefix_tsquery($2::text[]))
           FROM user_directory_remote r
          WHERE r.directory_vector @@ prefix_tsquery($2::text[])
       )
       SELECT user_id, display_name, avatar_url FROM (
         SELECT c.*, (c.user_id <> $1 AND EXISTS (
                   SELECT 1 FROM room_memberships mine JOIN room_memberships theirs ON theirs.room_id = mine.room_id
                    WHERE mine.user_id = $1 AND mine.membership = 'join' AND theirs.user_id = c.user_id AND theirs.membership = 'join'
                )) AS shares_room
           FROM candidates c
       ) c
       WHERE shares_room OR EXISTS (
         SELECT 1 FROM room_memberships m JOIN user_directory_rooms r ON r.room_id = m.room_id AND r.is_public
           JOIN room_servers s ON s.room_id = m.room_id AND s.server_name = $4 AND s.joined_count > 0
          WHERE m.user_id = c.user_id AND m.membership = 'join'
       )
       ORDER BY shares_room DESC, rank DESC, display_name IS NULL, avatar_url IS NULL, user_id
       LIMIT $3`,
      [userId, lexemes, limit, serverName],
    )
    return rows
  }
}
