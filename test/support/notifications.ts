// Helpers shared by the notification-count suites: sending, receipts, push rules and reading a room's
// counts from an initial /sync, each asserting success.
import assert from 'node:assert/strict'
import { CS, RoomClient, enc } from './rooms.ts'
import type { Session, TestServer } from './server.ts'

export type { Session }

export interface Counts {
  notification_count: number
  highlight_count: number
}

export const THREAD_FILTER = enc(JSON.stringify({ room: { timeline: { unread_thread_notifications: true } } }))

export const text = (body: string, more: Record<string, unknown> = {}) => ({ msgtype: 'm.text', body, ...more })

export function notificationHelpers(t: TestServer) {
  const send = (user: Session, roomId: string, content: Record<string, unknown>, type = 'm.room.message'): Promise<string> =>
    new RoomClient(t.api, user).send(roomId, content, type)

  async function receipt(user: Session, roomId: string, eventId: string, body: Record<string, unknown> = {}, type = 'm.read') {
    const res = await t.api.post(`${CS}/rooms/${enc(roomId)}/receipt/${type}/${enc(eventId)}`, body, user.access_token)
    assert.equal(res.status, 200, JSON.stringify(res.body))
  }

  /** The room's entry in an initial /sync of the user. */
  async function synced(user: Session, roomId: string, filter = ''): Promise<{ unread_notifications: Counts; unread_thread_notifications?: Record<string, Counts> }> {
    const res = await t.api.get(`${CS}/sync${filter ? `?filter=${filter}` : ''}`, user.access_token)
    assert.equal(res.status, 200)
    const room = res.body.rooms.join[roomId]
    assert.ok(room, 'the room is in the sync response')
    return room
  }

  const counts = async (user: Session, roomId: string): Promise<Counts> => (await synced(user, roomId)).unread_notifications

  async function pushRule(user: Session, path: string, body: unknown) {
    const res = await t.api.put(`${CS}/pushrules/global/${path}`, body, user.access_token)
    assert.equal(res.status, 200, JSON.stringify(res.body))
  }

  return { send, receipt, synced, counts, pushRule }
}
