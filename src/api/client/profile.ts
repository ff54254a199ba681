// GET /profile/{userId}, GET/PUT/DELETE /profile/{userId}/{keyName}
// Spec: client-server-api, "Profiles" (displayname, avatar_url, m.tz and custom fields since v1.16)
import { Type } from '@sinclair/typebox'
import { MatrixError } from '../../shared/errors.ts'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { JsonObject, UserIdParam } from '../schemas.ts'
import type { Requester } from '../../users/index.ts'

const KeyParams = Type.Object({ userId: UserIdParam, keyName: Type.String({ minLength: 1 }) })

export const getProfile = defineRoute({
  method: 'GET',
  url: cs('/profile/:userId'),
  auth: 'optional',
  params: Type.Object({ userId: UserIdParam }),
  async handler(ctx, { params }) {
    return ctx.profiles.read(params.userId)
  },
})

export const getProfileField = defineRoute({
  method: 'GET',
  url: cs('/profile/:userId/:keyName'),
  auth: 'optional',
  params: KeyParams,
  async handler(ctx, { params }) {
    return ctx.profiles.readField(params.userId, params.keyName)
  },
})

/** A guest may change only its display name (client-server API, "Guest Access"). */
function guestMayChange(requester: Requester, keyName: string): void {
  if (requester.isGuest && keyName !== 'displayname') throw new MatrixError('M_GUEST_ACCESS_FORBIDDEN', 'Guests may only change their display name', 403)
}

export const setProfileField = defineRoute({
  method: 'PUT',
  url: cs('/profile/:userId/:keyName'),
  auth: 'user',
  guest: true,
  params: KeyParams,
  body: JsonObject,
  async handler(ctx, { requester, params, body }) {
    if (!(params.keyName in body)) throw new MatrixError('M_MISSING_PARAM', `Missing '${params.keyName}'`)
    guestMayChange(requester, params.keyName)
    await ctx.profiles.setField(requester, params.userId, params.keyName, body[params.keyName])
    return {}
  },
})

export const deleteProfileField = defineRoute({
  method: 'DELETE',
  url: cs('/profile/:userId/:keyName'),
  auth: 'user',
  guest: true,
  params: KeyParams,
  async handler(ctx, { requester, params }) {
    guestMayChange(requester, params.keyName)
    await ctx.profiles.deleteField(requester, params.userId, params.keyName)
    return {}
  },
})
