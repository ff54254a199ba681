// GET /_matrix/client/v3/pushers
// Spec: client-server-api, "Push Notifications" ("Client behaviour": listing pushers)
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'

// Homestead stores no pushers yet (there is no POST /pushers/set, and nothing delivers to a push gateway),
// so every user's list is empty; clients' notification settings read it on opening.
export const getPushers = defineRoute({
  method: 'GET',
  url: cs('/pushers'),
  auth: 'user',
  async handler() {
    return { pushers: [] }
  },
})
