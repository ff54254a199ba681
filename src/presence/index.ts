// Presence: status per user, its /sync section and the sweeper that times out unseen users.
export { Presence, OFFLINE_AFTER_MS, REMOTE_PRESENCE_HOLD_MS, type PresenceState, type PresenceFilter, type RemotePresence } from './presence.ts'
