// TypeBox pieces shared by route schemas.
import { Type } from '@sinclair/typebox'

export const UserIdParam = Type.String({ pattern: '^@[^:]+:.+$', maxLength: 255 })
export const RoomIdParam = Type.String({ pattern: '^!.+$', maxLength: 255 })
export const EventIdParam = Type.String({ pattern: '^\\$', maxLength: 255 })
export const EventType = Type.String({ minLength: 1, maxLength: 255 })
export const DeviceId = Type.String({ minLength: 1, maxLength: 255 })
/** The UIA `auth` member: validated by the UIA engine itself. */
export const AuthDict = Type.Optional(Type.Unknown())
export const JsonObject = Type.Record(Type.String(), Type.Unknown())
