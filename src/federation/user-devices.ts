// GET /_matrix/federation/v1/user/devices/{userId} on the user's own server: how a remote user's device list
// is fetched whole (RemoteDeviceLists.resync).
import { serverNameOf } from '../protocol/events/index.ts'
import type { FederationClient } from './client.ts'

/** The largest answer read: a user's devices with their keys. */
const USER_DEVICES_MAX_BYTES = 4 * 1024 * 1024

/** The parsed JSON answer; throws FederationError when the server cannot be asked or refuses. */
export function fetchUserDevices(client: FederationClient, userId: string): Promise<unknown> {
  const server = serverNameOf(userId)
  if (server === null) return Promise.reject(new Error(`${userId} has no server name`))
  return client.request(server, { method: 'GET', path: `/_matrix/federation/v1/user/devices/${encodeURIComponent(userId)}`, maxBytes: USER_DEVICES_MAX_BYTES })
}
