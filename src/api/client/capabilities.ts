// GET /_matrix/client/v3/capabilities
// Spec: client-server-api, "Capabilities negotiation"
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { ROOM_VERSIONS } from '../../protocol/room-versions.ts'

export const capabilities = defineRoute({
  method: 'GET',
  url: cs('/capabilities'),
  auth: 'user',
  guest: true,
  async handler(ctx) {
    return {
      capabilities: {
        'm.change_password': { enabled: true },
        'm.set_displayname': { enabled: true },
        'm.set_avatar_url': { enabled: true },
        'm.profile_fields': { enabled: true },
        'm.3pid_changes': { enabled: ctx.threepids.enabled },
        'm.get_login_token': { enabled: false },
        'm.room_versions': { default: ctx.config.rooms.default_room_version, available: Object.fromEntries([...ROOM_VERSIONS.keys()].map((v) => [v, 'stable'])) },
      },
    }
  },
})
