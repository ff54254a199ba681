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

/**
 * Unstable features advertised; only what is implemented. Clients gate features on these flags even where
 * the spec versions above cover them (Element enables cross-signing on org.matrix.e2e_cross_signing alone);
 * the names are Synapse's. Left out, as not implemented: label filtering (org.matrix.label_based_filtering),
 * busy presence (msc3026), the unstable mutual rooms path (msc2666), pusher toggles (msc3881), relation
 * filters and redactions (msc3874, msc3912), account data deletion (msc3391), QR login (msc4108), delayed
 * events (msc4140), sliding sync (simplified_msc3575), invite filtering (msc4155), thread subscriptions
 * (msc4306), sticky events (msc4354); the io.element.e2ee_forced.* flags are false, which is their absence.
 */
export const UNSTABLE_FEATURES: Record<string, boolean> = {
  // Cross-signing (MSC1756): POST /keys/device_signing/upload, /keys/signatures/upload.
  'org.matrix.e2e_cross_signing': true,
  // GET /rooms/{roomId}/aliases (MSC2432).
  'org.matrix.msc2432': true,
  // Private read receipts, m.read.private (MSC2285).
  'org.matrix.msc2285.stable': true,
  // POST /publicRooms filtered by room_types (MSC3827).
  'org.matrix.msc3827.stable': true,
  // Threads (MSC3440), threaded read receipts (MSC3771), per-thread notification counts (MSC3773).
  'org.matrix.msc3440.stable': true,
  'org.matrix.msc3771': true,
  'org.matrix.msc3773': true,
  // GET /relations with recurse (MSC3981).
  'org.matrix.msc3981': true,
  // Arbitrary profile fields at the stable paths (MSC4133).
  'uk.tcpip.msc4133.stable': true,
  // Invite blocking with m.invite_permission_config (MSC4380).
  'org.matrix.msc4380.stable': true,
  // Dehydrated devices (src/e2ee/dehydrated-device.ts).
  'org.matrix.msc3814': true,
  // Simplified sliding sync (MSC4186; src/sync/sliding), as Synapse advertises it.
  'org.matrix.simplified_msc3575': true,
}

export const versions = defineRoute({
  method: 'GET',
  url: '/_matrix/client/versions',
  auth: 'none',
  async handler() {
    return { versions: SPEC_VERSIONS, unstable_features: UNSTABLE_FEATURES }
  },
})
