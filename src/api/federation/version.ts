// GET /_matrix/federation/v1/version
// Spec: server-server-api, "Server implementation". Needs no authentication.
import { readFileSync } from 'node:fs'
import { defineRoute } from '../route.ts'

/** The version released, from package.json (read once: it ships beside src/). */
const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version

export const serverVersion = defineRoute({
  method: 'GET',
  url: '/_matrix/federation/v1/version',
  auth: 'none',
  async handler() {
    return { server: { name: 'Homestead', version: VERSION } }
  },
})
