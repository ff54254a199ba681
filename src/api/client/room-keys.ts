// POST/GET /_matrix/client/v3/room_keys/version, GET/PUT/DELETE /room_keys/version/{version},
// GET/PUT/DELETE /room_keys/keys[/{roomId}[/{sessionId}]]
// Spec: client-server-api, "Server-side key backups"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { JsonObject, RoomIdParam } from '../schemas.ts'

// Any algorithm name is stored (as Synapse does), so clients can back up with algorithms newer than this server.
const Algorithm = Type.String({ minLength: 1, maxLength: 255 })
// auth_data and session_data are objects in the spec; a string is kept as given too, as Synapse does, for
// clients (and SyTest) that send one. Nothing else: the server never reads them, and a number or a list is
// no backup's data.
const Opaque = Type.Union([JsonObject, Type.String({ maxLength: 65536 })])
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })
const SessionIdParam = Type.String({ minLength: 1, maxLength: 255 })

const KeyBackupData = Type.Object({
  first_message_index: Count,
  forwarded_count: Count,
  is_verified: Type.Boolean(),
  session_data: Opaque,
})
const RoomKeyBackup = Type.Object({
  sessions: Type.Record(Type.String({ pattern: '^.{1,255}$' }), KeyBackupData, { additionalProperties: false }),
})
// The version, in the path for /room_keys/version/{version} and in the (required) query for /room_keys/keys.
const VersionParams = Type.Object({ version: Type.String({ maxLength: 255 }) })
const VersionQuery = VersionParams
const RoomParams = Type.Object({ roomId: RoomIdParam })
const SessionParams = Type.Object({ roomId: RoomIdParam, sessionId: SessionIdParam })

export const createBackupVersion = defineRoute({
  method: 'POST',
  url: cs('/room_keys/version'),
  auth: 'user',
  body: Type.Object({ algorithm: Algorithm, auth_data: Opaque }),
  async handler(ctx, { requester, body }) {
    return ctx.keyBackup.createVersion(requester, body)
  },
})

// Without a version in the path: the current one.
export const getBackupVersion = defineRoute({
  method: 'GET',
  url: [...cs('/room_keys/version'), ...cs('/room_keys/version/:version')],
  auth: 'user',
  params: Type.Object({ version: Type.Optional(VersionParams.properties.version) }),
  async handler(ctx, { requester, params }) {
    return ctx.keyBackup.getVersion(requester, params.version)
  },
})

export const updateBackupVersion = defineRoute({
  method: 'PUT',
  url: cs('/room_keys/version/:version'),
  auth: 'user',
  params: VersionParams,
  body: Type.Object({ algorithm: Algorithm, auth_data: Opaque, version: Type.Optional(Type.String()) }),
  async handler(ctx, { requester, params, body }) {
    await ctx.keyBackup.updateVersion(requester, params.version, body)
    return {}
  },
})

export const deleteBackupVersion = defineRoute({
  method: 'DELETE',
  url: cs('/room_keys/version/:version'),
  auth: 'user',
  params: VersionParams,
  async handler(ctx, { requester, params }) {
    await ctx.keyBackup.deleteVersion(requester, params.version)
    return {}
  },
})

export const putAllRoomKeys = defineRoute({
  method: 'PUT',
  url: cs('/room_keys/keys'),
  auth: 'user',
  query: VersionQuery,
  body: Type.Object({
    rooms: Type.Record(Type.String({ pattern: '^!.{1,254}$' }), RoomKeyBackup, { additionalProperties: false }),
  }),
  async handler(ctx, { requester, query, body }) {
    return ctx.keyBackup.putKeys(requester, query.version, body.rooms)
  },
})

export const putRoomKeys = defineRoute({
  method: 'PUT',
  url: cs('/room_keys/keys/:roomId'),
  auth: 'user',
  params: RoomParams,
  query: VersionQuery,
  body: RoomKeyBackup,
  async handler(ctx, { requester, params, query, body }) {
    return ctx.keyBackup.putKeys(requester, query.version, { [params.roomId]: body })
  },
})

export const putSessionKey = defineRoute({
  method: 'PUT',
  url: cs('/room_keys/keys/:roomId/:sessionId'),
  auth: 'user',
  params: SessionParams,
  query: VersionQuery,
  body: KeyBackupData,
  async handler(ctx, { requester, params, query, body }) {
    return ctx.keyBackup.putKeys(requester, query.version, { [params.roomId]: { sessions: { [params.sessionId]: body } } })
  },
})

// The keys of a whole backup, of one room or of one session: the path says which, the domain shapes the answer.
const KEYS_PATHS = [...cs('/room_keys/keys'), ...cs('/room_keys/keys/:roomId'), ...cs('/room_keys/keys/:roomId/:sessionId')]
const ScopeParams = Type.Object({ roomId: Type.Optional(RoomIdParam), sessionId: Type.Optional(SessionIdParam) })

export const getRoomKeys = defineRoute({
  method: 'GET',
  url: KEYS_PATHS,
  auth: 'user',
  params: ScopeParams,
  query: VersionQuery,
  async handler(ctx, { requester, params, query }) {
    return ctx.keyBackup.getKeys(requester, query.version, params.roomId, params.sessionId)
  },
})

export const deleteRoomKeys = defineRoute({
  method: 'DELETE',
  url: KEYS_PATHS,
  auth: 'user',
  params: ScopeParams,
  query: VersionQuery,
  async handler(ctx, { requester, params, query }) {
    return ctx.keyBackup.deleteKeys(requester, query.version, params.roomId, params.sessionId)
  },
})
