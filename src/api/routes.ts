// Every route served, in one list.
import type { RouteDefinition } from './route.ts'
import * as account from './client/account.ts'
import * as accountData from './client/account-data.ts'
import * as capabilities from './client/capabilities.ts'
import * as devices from './client/devices.ts'
import * as login from './client/login.ts'
import * as sso from './client/sso.ts'
import * as logout from './client/logout.ts'
import * as profile from './client/profile.ts'
import * as register from './client/register.ts'
import * as versions from './client/versions.ts'
import * as wellKnown from './client/well-known.ts'
import * as adminRegister from './admin/register.ts'
import * as adminRegistrationTokens from './admin/registration-tokens.ts'
import * as keys from './keys/server.ts'
import * as keyQuery from './keys/query.ts'
import * as health from './health.ts'
import * as createRoom from './client/rooms/create.ts'
import * as roomSend from './client/rooms/send.ts'
import * as roomRead from './client/rooms/read.ts'
import * as roomMembership from './client/rooms/membership.ts'
import * as sync from './client/sync.ts'
import * as slidingSync from './client/sliding-sync.ts'
import * as eventStream from './client/events.ts'
import * as directory from './client/directory.ts'
import * as upgrade from './client/upgrade.ts'
import * as hierarchy from './client/hierarchy.ts'
import * as report from './client/report.ts'
import * as tags from './client/tags.ts'
import * as search from './client/search.ts'
import * as userDirectory from './client/user-directory.ts'
import * as presence from './client/presence.ts'
import * as pushRules from './client/pushrules.ts'
import * as roomRelations from './client/rooms/relations.ts'
import * as roomTyping from './client/rooms/typing.ts'
import * as roomReceipts from './client/rooms/receipts.ts'
import * as e2eKeys from './client/keys.ts'
import * as toDevice from './client/to-device.ts'
import * as dehydratedDevice from './client/dehydrated-device.ts'
import * as roomKeys from './client/room-keys.ts'
import * as media from './client/media.ts'
import * as adminMedia from './admin/media.ts'
import * as adminRooms from './admin/rooms.ts'
import * as roomInitialSync from './client/room-initial-sync.ts'
import * as initialSync from './client/initial-sync.ts'
import * as pushers from './client/pushers.ts'
import * as notifications from './client/notifications.ts'
import * as threepids from './client/threepids.ts'
import * as threepidBinding from './client/threepid-binding.ts'
import * as emailValidation from './client/email-validation.ts'
import * as emailUnsubscribe from './client/email-unsubscribe.ts'
import * as thirdparty from './client/thirdparty.ts'
import * as openId from './client/openid.ts'
import * as federationVersion from './federation/version.ts'
import * as federationQuery from './federation/query.ts'
import * as federationUser from './federation/user.ts'
import * as federationMembership from './federation/membership.ts'
import * as federationSend from './federation/send.ts'
import * as federationInvite from './federation/invite.ts'
import * as federationThirdPartyInvite from './federation/third-party-invite.ts'
import * as federationMedia from './federation/media.ts'
import * as federationEvents from './federation/events.ts'
import * as federationDirectory from './federation/directory.ts'
import * as federationOpenId from './federation/openid.ts'

const modules = [
  versions,
  wellKnown,
  login,
  sso,
  logout,
  register,
  account,
  devices,
  profile,
  accountData,
  capabilities,
  keys,
  keyQuery,
  adminRegister,
  adminRegistrationTokens,
  health,
  createRoom,
  roomSend,
  roomRead,
  roomMembership,
  sync,
  slidingSync,
  eventStream,
  directory,
  upgrade,
  hierarchy,
  report,
  tags,
  search,
  userDirectory,
  presence,
  pushRules,
  roomRelations,
  roomTyping,
  roomReceipts,
  e2eKeys,
  toDevice,
  dehydratedDevice,
  roomKeys,
  media,
  adminMedia,
  adminRooms,
  roomInitialSync,
  initialSync,
  pushers,
  notifications,
  threepids,
  threepidBinding,
  emailValidation,
  emailUnsubscribe,
  thirdparty,
  openId,
  federationVersion,
  federationQuery,
  federationUser,
  federationMembership,
  federationSend,
  federationInvite,
  federationThirdPartyInvite,
  federationMedia,
  federationEvents,
  federationDirectory,
  federationOpenId,
]

export const routes = modules.flatMap((m) => Object.values(m) as RouteDefinition<any, any, any, any>[]).filter((r) => r && typeof r === 'object' && 'handler' in r)

/**
 * The federation listener (federation.listen, TLS) serves the server-server API, server keys and media, as
 * Synapse's federation listener does; the client listener serves these too (behind a load balancer that
 * terminates TLS, one port serves everything). Chosen by path, so every federation route lands there; a
 * route with aliases elsewhere (a client media path) keeps only its aliases under these prefixes.
 */
const FEDERATION_LISTENER_PREFIXES = ['/_matrix/federation/', '/_matrix/key/', '/_matrix/media/']

export function federationListenerRoutes(all: RouteDefinition<any, any, any, any>[]): RouteDefinition<any, any, any, any>[] {
  return all.flatMap((route) => {
    const urls = (Array.isArray(route.url) ? route.url : [route.url]).filter((url) => FEDERATION_LISTENER_PREFIXES.some((prefix) => url.startsWith(prefix)))
    return urls.length > 0 ? [{ ...route, url: urls }] : []
  })
}
