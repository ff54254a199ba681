// Invites across servers (server-server API, "Inviting to a room"): PUT /_matrix/federation/v2/invite both
// ways, and v1 (rooms of version 1 and 2) with servers that lack v2. Inbound, the room's server ACL first; an invite of one of our users is checked (signatures, hash, shape, the invitee's invite
// blocking), signed with our key and answered; when this server is not in the room, the invite is kept as an
// outlier with the room's stripped state and the invitee's membership row, so their /sync shows it.
// Outbound, our user's invite of another server's user is sent for that server's signature before it is
// appended (Rooms.invite builds it; the co-signed event enters the room through the ingest).
import { refuseBlockedInvite } from '../directory/ignored.ts'
import { refuseBlockedRoom } from '../rooms/rooms.ts'
import { signEvent, verifyEventSignature, type JsonObject, type RoomEvent } from '../protocol/events/index.ts'
import { roomVersion, type RoomVersion } from '../protocol/room-versions.ts'
import type { SigningKey } from '../protocol/signing.ts'
import { MatrixError, forbidden } from '../shared/errors.ts'
import { parseUserId } from '../shared/ids.ts'
import type { Storage } from '../storage/index.ts'
import type { RemoteEvents } from '../rooms/ingest.ts'
import type { ExchangeRequest } from '../rooms/third-party-invites.ts'
import { FederationError, type FederationClient } from './client.ts'
import { ServerAcls } from './acl.ts'
import { checkSentPdu } from './memberships.ts'
import { withV1Fallback } from './remote-join.ts'
import type { RemoteKeys } from './keys.ts'
import { strippedStateOf } from '../rooms/client-events.ts'
import { isObject } from '../protocol/auth/room-state.ts'

const invalid = (message: string) => new MatrixError('M_INVALID_PARAM', message, 400)

/** The room versions the v1 invite API carries ("must assume that the room version is either 1 or 2"). */
const V1_ROOM_VERSIONS = new Set(['1', '2'])

/** A v1 invite's room version: 2 when its stripped state's create event says so, else 1 (the same event format). */
function v1RoomVersion(strippedState: unknown): RoomVersion | undefined {
  const create = strippedStateOf(strippedState).find((e) => e.type === 'm.room.create' && e.state_key === '')
  const said = isObject(create?.content) ? create.content.room_version : undefined
  return roomVersion(said === '2' ? '2' : '1')
}

export class FederationInvites {
  private readonly serverName: string
  private readonly storage: Storage
  private readonly keys: RemoteKeys
  private readonly client: FederationClient
  private readonly signingKey: () => SigningKey
  private readonly remoteEvents: RemoteEvents
  private readonly acls: ServerAcls

  constructor(deps: { serverName: string; storage: Storage; keys: RemoteKeys; client: FederationClient; signingKey: () => SigningKey; remoteEvents: RemoteEvents }) {
    this.remoteEvents = deps.remoteEvents
    this.serverName = deps.serverName
    this.storage = deps.storage
    this.keys = deps.keys
    this.client = deps.client
    this.signingKey = deps.signingKey
    this.acls = new ServerAcls(deps.storage)
  }

  /**
   * PUT /_matrix/federation/v2/invite/{roomId}/{eventId} from `origin` (`body`: room_version, event,
   * invite_room_state), or v1 (`v1`: the body is the event, its stripped state in unsigned, and the room of
   * version 1 or 2): the invite, signed by us too.
   */
  async receive(origin: string, roomId: string, eventId: string, body: JsonObject, v1 = false): Promise<{ event: JsonObject }> {
    // The room's server ACL first, when this server has the room's state: a denied server learns nothing more.
    if ((await this.acls.denied(origin, [roomId])).size > 0) throw forbidden('The server access control list of the room denies your server')
    const raw = v1 ? body : body.event
    const strippedState = v1 ? (isObject(body.unsigned) ? body.unsigned.invite_room_state : undefined) : body.invite_room_state
    const version = v1 ? v1RoomVersion(strippedState) : typeof body.room_version === 'string' ? roomVersion(body.room_version) : undefined
    if (!version) {
      throw new MatrixError('M_INCOMPATIBLE_ROOM_VERSION', 'This server does not support the room version', 400, { room_version: String(body.room_version) })
    }
    const event = await checkSentPdu(raw, version, (server, keyId, validity) => this.keys.verifyKey(server, keyId, validity))
    if (event.event_id !== eventId || event.room_id !== roomId) throw invalid('The event does not match the request')
    if (event.type !== 'm.room.member' || event.content.membership !== 'invite' || event.state_key === undefined) throw invalid('The event is not an invite')
    if (parseUserId(event.sender)?.serverName !== origin) throw forbidden('The inviter is not of the requesting server')
    const invitee = event.state_key
    if (parseUserId(invitee)?.serverName !== this.serverName) throw invalid('The invitee is not a user of this server')
    const known = await this.storage.repos.users.exists(invitee)
    if (known) await refuseBlockedInvite(this.storage.repos, invitee)
    await refuseBlockedRoom(this.storage.repos, roomId)

    const signed = signEvent(event.pdu, version, this.serverName, this.signingKey())
    // In the room (one of our users joined): the inviting server sends the invite in a transaction like any
    // event; it enters the room then. Otherwise (never in it, or all our users left it: no transaction of
    // the room comes here any more) it is all this server will know of the room until the invitee joins. An
    // invite of a user who does not exist is signed (nothing refuses it) but kept nowhere: nobody would see it.
    if (known && !(await this.storage.repos.memberships.hasJoinedOfServer(roomId, this.serverName))) {
      await this.remoteEvents.keepMembershipOutside({ ...event, pdu: signed }, version, { invite_room_state: strippedStateOf(strippedState) })
    }
    return { event: signed }
  }

  /**
   * Our user's invite of a user of `destination`, for that server's signature (PUT v2/invite, or v1 for a
   * room of version 1 or 2 when the server does not know v2). Answers the invite as it came back: the same
   * event, with a valid signature of the invitee's server added.
   */
  async send(destination: string, version: RoomVersion, event: RoomEvent, strippedState: JsonObject[]): Promise<RoomEvent> {
    const path = (v: string) => `/_matrix/federation/${v}/invite/${encodeURIComponent(event.room_id)}/${encodeURIComponent(event.event_id)}`
    const v2 = () => this.client.request<unknown>(destination, { method: 'PUT', path: path('v2'), body: { room_version: version.id, event: event.pdu, invite_room_state: strippedState } })
    // v1 carries the stripped state in the event's unsigned, and rooms of version 1 and 2 only.
    const unsigned = { ...(isObject(event.pdu.unsigned) ? event.pdu.unsigned : {}), invite_room_state: strippedState }
    const v1 = () => this.client.request<unknown>(destination, { method: 'PUT', path: path('v1'), body: { ...event.pdu, unsigned } })
    let raw: unknown
    try {
      const answer = await withV1Fallback(v2, V1_ROOM_VERSIONS.has(version.id) ? v1 : null)
      raw = isObject(answer) ? answer.event : undefined
    } catch (err) {
      if (!(err instanceof FederationError)) throw err
      // The invitee's server refused (blocked invites, unknown user, unsupported version): the inviter is told so.
      if (err.status !== null && err.status >= 400 && err.status < 500) {
        const extra = err.errcode === 'M_INCOMPATIBLE_ROOM_VERSION' ? { room_version: version.id } : {}
        throw new MatrixError(err.errcode ?? 'M_FORBIDDEN', `${destination} refused the invite: ${err.message}`, err.status, extra)
      }
      throw new MatrixError('M_UNKNOWN', `${destination} could not be reached: ${err.message}`, 502)
    }
    let checked: RoomEvent
    try {
      checked = await checkSentPdu(raw, version, (server, keyId, validity) => this.keys.verifyKey(server, keyId, validity))
    } catch (err) {
      // An event that is not valid JSON for the room version is the client's M_BAD_JSON, as a local one would be.
      if (err instanceof MatrixError && err.errcode === 'M_BAD_JSON') throw new MatrixError('M_BAD_JSON', `${destination} answered the invite with an event that is not valid`, 400)
      throw new MatrixError('M_UNKNOWN', `${destination} answered the invite with an event that does not verify`, 502)
    }
    if (checked.event_id !== event.event_id) throw new MatrixError('M_UNKNOWN', `${destination} answered the invite with another event`, 502)
    if (!(await this.signedBy(checked, version, destination))) {
      throw new MatrixError('M_UNKNOWN', `${destination} did not sign the invite`, 502)
    }
    return checked
  }

  /**
   * Asks the inviter's server to exchange a third-party invite of one of our users for an m.room.member invite
   * (PUT exchange_third_party_invite): it then invites our user the ordinary way. Its refusal is the caller's.
   */
  async exchangeThirdPartyInvite(destination: string, request: ExchangeRequest): Promise<void> {
    try {
      await this.client.put(destination, `/_matrix/federation/v1/exchange_third_party_invite/${encodeURIComponent(request.room_id)}`, request)
    } catch (err) {
      if (!(err instanceof FederationError)) throw err
      if (err.status !== null && err.status >= 400 && err.status < 500) {
        throw new MatrixError(err.errcode ?? 'M_FORBIDDEN', `${destination} refused to exchange the third-party invite`, err.status)
      }
      throw new MatrixError('M_UNKNOWN', `${destination} could not exchange the third-party invite: ${err.kind}`, 502)
    }
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
