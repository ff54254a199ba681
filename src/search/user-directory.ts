// The user directory (client-server API, "User directory", POST /user_directory/search): users matching
// the term by a word prefix of their user ID or display name, case-insensitively, among those the requester
// may discover — users sharing a room with them and users joined to a room this server is in whose join rule
// is public or whose history is world-readable (Synapse's default, search_all_users = false). Other servers'
// users are found by the profile of their latest join here; once this server has left a room, its members
// are no longer found through it.
import type { Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'

export interface DirectoryResult {
  user_id: string
  display_name?: string
  avatar_url?: string
}

const DEFAULT_LIMIT = 10
/** Every word must match, so a longer term only narrows the result: cut it rather than refuse it. */
const MAX_LEXEMES = 16

export class UserDirectory {
  private readonly storage: Storage
  /** The largest page (limits.user_directory_limit): a larger `limit` is lowered to it. */
  private readonly maxLimit: number

  private readonly serverName: string

  constructor(storage: Storage, maxLimit: number, serverName: string) {
    this.storage = storage
    this.maxLimit = maxLimit
    this.serverName = serverName
  }

  async search(requester: Requester, term: string, limit: number | undefined): Promise<{ results: DirectoryResult[]; limited: boolean }> {
    const repos = this.storage.repos
    const max = Math.min(limit ?? DEFAULT_LIMIT, this.maxLimit)
    // The same punctuation folding as the index (user_directory_vector), so "alice.smith" finds alice.smith.
    const lexemes = (await repos.search.lexemes(foldPunctuation(term))).slice(0, MAX_LEXEMES)
    // One row more than asked tells whether the list was cut.
    const rows = await repos.userDirectory.search(requester.userId, lexemes, max + 1, this.serverName)
    const results = rows.slice(0, max).map((r) => {
      const result: DirectoryResult = { user_id: r.user_id }
      if (r.display_name !== null) result.display_name = r.display_name
      if (r.avatar_url !== null) result.avatar_url = r.avatar_url
      return result
    })
    return { results, limited: rows.length > max }
  }
}

/** Mirrors the translate() of user_directory_vector in migration 0006. */
function foldPunctuation(term: string): string {
  return term.replace(/[@:._=\-/+[\]]/g, ' ')
}
