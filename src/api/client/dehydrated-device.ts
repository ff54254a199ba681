// GET/PUT/DELETE /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device,
// POST /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/{deviceId}/events
// Spec: MSC3814 ("Dehydrated Devices with SSSS"), the unstable endpoints Element clients use.
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { DeviceId, JsonObject } from '../schemas.ts'

const BASE = '/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device'

export const putDehydratedDevice = defineRoute({
  method: 'PUT',
  url: BASE,
  auth: 'user',
  body: JsonObject,
  async handler(ctx, { requester, body }) {
    return ctx.dehydratedDevices.put(requester, body)
  },
})

export const getDehydratedDevice = defineRoute({
  method: 'GET',
  url: BASE,
  auth: 'user',
  async handler(ctx, { requester }) {
    return ctx.dehydratedDevices.get(requester)
  },
})

export const deleteDehydratedDevice = defineRoute({
  method: 'DELETE',
  url: BASE,
  auth: 'user',
  async handler(ctx, { requester }) {
    return ctx.dehydratedDevices.delete(requester)
  },
})

export const dehydratedDeviceEvents = defineRoute({
  method: 'POST',
  url: `${BASE}/:deviceId/events`,
  auth: 'user',
  params: Type.Object({ deviceId: DeviceId }),
  body: Type.Object({ next_batch: Type.Optional(Type.String({ maxLength: 64 })) }),
  async handler(ctx, { requester, params, body }) {
    return ctx.dehydratedDevices.events(requester, params.deviceId, body.next_batch)
  },
})
