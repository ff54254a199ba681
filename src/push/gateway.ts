// The body of POST /_matrix/push/v1/notify (push gateway API), as Synapse's HTTP pusher builds it. Pure.
import type { PushEvent } from './evaluate.ts'

/** The pusher a notification goes to. */
export interface GatewayPusher {
  app_id: string
  pushkey: string
  /** Milliseconds; the gateway gets seconds. */
  pushkey_ts: number
  data: Record<string, unknown>
}

/** The event a notification is about, as stored. */
export type NotifiedEvent = Pick<PushEvent, 'event_id' | 'room_id' | 'type' | 'sender' | 'state_key' | 'content'>

export interface EventNotification {
  event: NotifiedEvent
  /** The user the pusher belongs to (user_is_target of a member event). */
  userId: string
  pusher: GatewayPusher
  tweaks: Record<string, unknown>
  /** The user's unread count (rooms with unread notifications, and invites). */
  badge: number
  roomName: string | null
  senderDisplayName: string | null
}

/** The data a gateway is forwarded: the pusher's data minus its url (client-server API, POST /pushers/set). */
export function dataForGateway(data: Record<string, unknown>): Record<string, unknown> {
  const { url: _url, ...rest } = data
  return rest
}

function device(pusher: GatewayPusher, tweaks?: Record<string, unknown>): Record<string, unknown> {
  const d: Record<string, unknown> = { app_id: pusher.app_id, pushkey: pusher.pushkey, pushkey_ts: Math.floor(pusher.pushkey_ts / 1000), data: dataForGateway(pusher.data) }
  if (tweaks !== undefined) d.tweaks = tweaks
  return d
}

/**
 * High priority for what makes a sound or highlights, and for encrypted events (whose rules a client may
 * decide differently once decrypted); low otherwise, so gateways may deliver those without waking the phone.
 */
export function priorityOf(type: string, tweaks: Record<string, unknown>): 'high' | 'low' {
  return type === 'm.room.encrypted' || Boolean(tweaks.highlight) || Boolean(tweaks.sound) ? 'high' : 'low'
}

/** A notification about an event; `data.format` "event_id_only" leaves out everything but its IDs. */
export function eventNotification(n: EventNotification): { notification: Record<string, unknown> } {
  const { event, pusher, tweaks } = n
  const prio = priorityOf(event.type, tweaks)
  const counts = { unread: n.badge }
  if (pusher.data.format === 'event_id_only') {
    return { notification: { event_id: event.event_id, room_id: event.room_id, prio, counts, devices: [device(pusher, tweaks)] } }
  }
  const notification: Record<string, unknown> = {
    // `id` as well: gateways written before the spec named it event_id read it (Synapse sends both).
    id: event.event_id,
    event_id: event.event_id,
    room_id: event.room_id,
    type: event.type,
    sender: event.sender,
    prio,
    counts,
    devices: [device(pusher, tweaks)],
  }
  if (event.type === 'm.room.member' && event.state_key !== undefined) {
    notification.membership = event.content.membership
    notification.user_is_target = event.state_key === n.userId
  }
  if (Object.keys(event.content).length > 0) notification.content = event.content
  if (n.senderDisplayName) notification.sender_display_name = n.senderDisplayName
  if (n.roomName) notification.room_name = n.roomName
  return { notification }
}

/** A badge update: the unread count alone (after the user read something on another device). */
export function badgeNotification(pusher: GatewayPusher, badge: number): { notification: Record<string, unknown> } {
  return { notification: { counts: { unread: badge }, devices: [device(pusher)] } }
}

/** The pushkeys a gateway's answer rejects (malformed answers reject nothing). */
export function rejectedPushkeys(answer: unknown): string[] {
  if (typeof answer !== 'object' || answer === null) return []
  const rejected = (answer as { rejected?: unknown }).rejected
  return Array.isArray(rejected) ? rejected.filter((k): k is string => typeof k === 'string') : []
}

/** A room's name for a notification: its m.room.name, else its canonical alias. */
export function roomNameOf(name: unknown, canonicalAlias: unknown): string | null {
  if (typeof name === 'string' && name.length > 0) return name
  if (typeof canonicalAlias === 'string' && canonicalAlias.length > 0) return canonicalAlias
  return null
}
