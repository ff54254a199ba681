// Presence: status per user, its /sync section and the sweeper that times out unseen users.
export { Presence, OFFLINE_AFTER_MS, type PresenceState, type PresenceFilter } from './presence.ts'
