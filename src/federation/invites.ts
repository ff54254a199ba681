// Invites across servers (server-server API, "Inviting to a room"): PUT /_matrix/federation/v2/invite both
// ways. Inbound, an invite of one of our users is checked (signatures, hash, shape, the invitee's invite
// blocking), signed with our key and answered; when this server is not in the room, the invite is kept as an
// outlier with the room's stripped state and the invitee's membership row, so their /sync shows it.
// Outbound, our user's invite of another server's user is sent for that server's signature before it is
// appended (Rooms.invite builds it; the co-signed event enters the room through the ingest).
import { refuseBlockedInvite } from '../directory/ignored.ts'
import { signEvent, verifyEventSignature, type JsonObject, type RoomEvent } from '../protocol/events/index.ts'
import { roomVersion, type RoomVersion } from '../protocol/room-versions.ts'
import type { SigningKey } from '../protocol/signing.ts'
import { MatrixError, forbidden } from '../shared/errors.ts'
import { parseUserId } from '../shared/ids.ts'
import type { Storage } from '../storage/index.ts'
import type { RemoteEvents } from '../rooms/ingest.ts'
import { FederationError, type FederationClient } from './client.ts'
import type { RemoteKeys } from './keys.ts'
import { checkIncomingPdu } from './pdu-check.ts'
import { strippedStateOf } from '../rooms/client-events.ts'
import { isObject } from '../protocol/auth/room-state.ts'

const invalid = (message: string) => new MatrixError('M_INVALID_PARAM', message, 400)


export class FederationInvites {
  private readonly serverName: string
  private readonly storage: Storage
  private readonly keys: RemoteKeys
  private readonly client: FederationClient
  private readonly signingKey: () => SigningKey
  private readonly remoteEvents: RemoteEvents

  constructor(deps: { serverName: string; storage: Storage; keys: RemoteKeys; client: FederationClient; signingKey: () => SigningKey; remoteEvents: RemoteEvents }) {
    this.remoteEvents = deps.remoteEvents
    this.serverName = deps.serverName
    this.storage = deps.storage
    this.keys = deps.keys
    this.client = deps.client
    this.signingKey = deps.signingKey
  }

  /** PUT /_matrix/federation/v2/invite/{roomId}/{eventId} from `origin`: the invite, signed by us too. */
  async receive(origin: string, roomId: string, eventId: string, body: JsonObject): Promise<{ event: JsonObject }> {
    const version = typeof body.room_version === 'string' ? roomVersion(body.room_version) : undefined
    if (!version) {
      throw new MatrixError('M_INCOMPATIBLE_ROOM_VERSION', 'This server does not support the room version', 400, { room_version: String(body.room_version) })
    }
    const checked = await checkIncomingPdu(body.event, version, (server, keyId, validity) => this.keys.verifyKey(server, keyId, validity))
    if (!checked.ok) throw invalid(`The event is not valid: ${checked.reason}`)
    if (checked.redacted) throw invalid('The event does not match its content hash')
    const event = checked.event
    if (event.event_id !== eventId || event.room_id !== roomId) throw invalid('The event does not match the request')
    if (event.type !== 'm.room.member' || event.content.membership !== 'invite' || event.state_key === undefined) throw invalid('The event is not an invite')
    if (parseUserId(event.sender)?.serverName !== origin) throw forbidden('The inviter is not of the requesting server')
    const invitee = event.state_key
    if (parseUserId(invitee)?.serverName !== this.serverName) throw invalid('The invitee is not a user of this server')
    if (!(await this.storage.repos.users.exists(invitee))) throw new MatrixError('M_NOT_FOUND', 'Unknown user', 404)
    await refuseBlockedInvite(this.storage.repos, invitee)

    const signed = signEvent(event.pdu, version, this.serverName, this.signingKey())
    const room = await this.storage.repos.rooms.get(roomId)
    // In the room already: the inviting server sends the invite in a transaction like any event; it enters
    // the room then. Otherwise it is all this server will know of the room until the invitee joins.
    if (!room || room.state_group === null) await this.remoteEvents.keepMembershipOutside({ ...event, pdu: signed }, version, { invite_room_state: strippedStateOf(body.invite_room_state) })
    return { event: signed }
  }

  /**
   * Our user's invite of a user of `destination`, for that server's signature (PUT v2/invite). Answers the
   * invite as it came back: the same event, with a valid signature of the invitee's server added.
   */
  async send(destination: string, version: RoomVersion, event: RoomEvent, strippedState: JsonObject[]): Promise<RoomEvent> {
    let answer: unknown
    try {
      answer = await this.client.request<unknown>(destination, {
        method: 'PUT',
        path: `/_matrix/federation/v2/invite/${encodeURIComponent(event.room_id)}/${encodeURIComponent(event.event_id)}`,
        body: { room_version: version.id, event: event.pdu, invite_room_state: strippedState },
      })
    } catch (err) {
      if (!(err instanceof FederationError)) throw err
      // The invitee's server refused (blocked invites, unknown user, unsupported version): the inviter is told so.
      if (err.status !== null && err.status >= 400 && err.status < 500) {
        const extra = err.errcode === 'M_INCOMPATIBLE_ROOM_VERSION' ? { room_version: version.id } : {}
        throw new MatrixError(err.errcode ?? 'M_FORBIDDEN', `${destination} refused the invite: ${err.message}`, err.status, extra)
      }
      throw new MatrixError('M_UNKNOWN', `${destination} could not be reached: ${err.message}`, 502)
    }
    const raw = isObject(answer) ? answer.event : undefined
    const checked = await checkIncomingPdu(raw, version, (server, keyId, validity) => this.keys.verifyKey(server, keyId, validity))
    if (!checked.ok || checked.redacted || checked.event.event_id !== event.event_id) {
      throw new MatrixError('M_UNKNOWN', `${destination} answered the invite with another event`, 502)
    }
    if (!(await this.signedBy(checked.event, version, destination))) {
      throw new MatrixError('M_UNKNOWN', `${destination} did not sign the invite`, 502)
    }
    return checked.event
  }

  /** Whether the event carries a valid signature of `server` (with a key valid when it was sent). */
  private async signedBy(event: RoomEvent, version: RoomVersion, server: string): Promise<boolean> {
    const signatures = event.pdu.signatures?.[server]
    if (!signatures) return false
    for (const keyId of Object.keys(signatures).slice(0, 4)) {
      const key = await this.keys.verifyKey(server, keyId, { validAt: event.origin_server_ts, forRequest: false })
      if (key && verifyEventSignature(event.pdu, version, server, keyId, key)) return true
    }
    return false
  }
}
