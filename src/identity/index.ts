// The identity module's public surface: requests to the identity servers clients name (third-party invites).
export { IdentityServers, baseUrl, type IdentityServerAccess, type IdentityServerSettings, type StoreInviteRequest, type StoredInvite } from './identity-servers.ts'
