import type { UserId } from '../shared/ids.ts'

/** Who is making an authenticated request. */
export interface Requester {
  userId: UserId
  deviceId: string
  isAdmin: boolean
  /** A guest account (client-server API, "Guest Access"): only the endpoints the spec lists. */
  isGuest?: boolean
  /** SHA-256 of the access token presented (never the token itself). */
  tokenHash: Buffer
}
