// GET /_matrix/client/versions
// Spec: client-server-api, "API Versions"
import { defineRoute } from '../route.ts'

/** Spec versions whose Client-Server features this server provides. Raise as capabilities land. */
export const SPEC_VERSIONS = ['r0.6.1', 'v1.1', 'v1.2', 'v1.3', 'v1.4', 'v1.5', 'v1.6', 'v1.7', 'v1.8', 'v1.9', 'v1.10', 'v1.11', 'v1.12']

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
