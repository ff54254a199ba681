// GET /devices, GET/PUT/DELETE /devices/{deviceId}, POST /delete_devices, GET /admin/whois/{userId}
// Spec: client-server-api, "Device Management" and "Server Administration"
import { Type } from '@sinclair/typebox'
import { forbidden, MatrixError } from '../../shared/errors.ts'
import { parseUserId } from '../../shared/ids.ts'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { AuthDict, DeviceId, UserIdParam } from '../schemas.ts'

// A user may look up themselves; a server admin anyone of this server.
export const whois = defineRoute({
  method: 'GET',
  url: cs('/admin/whois/:userId'),
  auth: 'user',
  params: Type.Object({ userId: UserIdParam }),
  async handler(ctx, { requester, params }) {
    if (!requester.isAdmin && requester.userId !== params.userId) throw forbidden('You are not a server admin')
    if (parseUserId(params.userId)?.serverName !== ctx.config.server_name) throw new MatrixError('M_INVALID_PARAM', 'Only users of this server can be looked up', 400)
    return ctx.devices.whois(params.userId)
  },
})

export const listDevices = defineRoute({
  method: 'GET',
  url: cs('/devices'),
  auth: 'user',
  guest: true,
  async handler(ctx, { requester }) {
    return { devices: await ctx.devices.list(requester.userId) }
  },
})

export const getDevice = defineRoute({
  method: 'GET',
  url: cs('/devices/:deviceId'),
  auth: 'user',
  guest: true,
  params: Type.Object({ deviceId: DeviceId }),
  async handler(ctx, { requester, params }) {
    return ctx.devices.get(requester.userId, params.deviceId)
  },
})

export const updateDevice = defineRoute({
  method: 'PUT',
  url: cs('/devices/:deviceId'),
  auth: 'user',
  guest: true,
  params: Type.Object({ deviceId: DeviceId }),
  body: Type.Object({ display_name: Type.Optional(Type.Union([Type.String({ maxLength: 512 }), Type.Null()])) }),
  async handler(ctx, { requester, params, body }) {
    if (body.display_name !== undefined) await ctx.devices.setDisplayName(requester.userId, params.deviceId, body.display_name)
    else await ctx.devices.get(requester.userId, params.deviceId)
    return {}
  },
})

export const deleteDevice = defineRoute({
  method: 'DELETE',
  url: cs('/devices/:deviceId'),
  auth: 'user',
  params: Type.Object({ deviceId: DeviceId }),
  body: Type.Object({ auth: AuthDict }),
  // Spec: 200 when the device "was successfully removed, or had been removed previously", so no 404.
  async handler(ctx, { requester, params, body }) {
    await ctx.accounts.deleteDevices(requester, [params.deviceId], body.auth)
    return {}
  },
})

export const deleteDevices = defineRoute({
  method: 'POST',
  url: cs('/delete_devices'),
  auth: 'user',
  body: Type.Object({ devices: Type.Array(DeviceId, { maxItems: 1000 }), auth: AuthDict }),
  async handler(ctx, { requester, body }) {
    await ctx.accounts.deleteDevices(requester, body.devices, body.auth)
    return {}
  },
})
