// GET /_matrix/client/versions
// Spec: client-server-api, "API Versions"
import { defineRoute } from '../route.ts'

/** Spec versions whose Client-Server features this server provides. Raise as capabilities land. */
export const SPEC_VERSIONS = [
  'r0.6.1',
  ...Array.from({ length: 19 }, (_, i) => `v1.${i + 1}`),
]
// What the versions after 1.12 asked of a server: v1.13 one-time keys claimed in upload order; v1.15 GET
// /room_summary (and /auth_metadata's 404 M_UNRECOGNIZED for a server without OAuth); v1.16 room version
// 12, use_state_after, profile fields; v1.18 invite blocking (m.invite_permission_config; account
// locking and suspension stay optional: no m.account_moderation capability); v1.19 GET /mutual_rooms.

/** Unstable features advertised; only what is implemented. */
export const UNSTABLE_FEATURES: Record<string, boolean> = {
  // Dehydrated devices (src/e2ee/dehydrated-device.ts).
  'org.matrix.msc3814': true,
}

export const versions = defineRoute({
  method: 'GET',
  url: '/_matrix/client/versions',
  auth: 'none',
  async handler() {
    return { versions: SPEC_VERSIONS, unstable_features: UNSTABLE_FEATURES }
  },
})
