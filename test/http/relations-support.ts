// Shared steps of the relations and threads suites: rooms with members, sending, relating and reading.
import assert from 'node:assert/strict'
import { registerUser, type Session, type TestServer } from '../support/server.ts'

export type User = Session

let txn = 0

export function room(roomId: string): string {
  return `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`
}

export function v1room(roomId: string): string {
  return `/_matrix/client/v1/rooms/${encodeURIComponent(roomId)}`
}

/** A room created by the first user and joined by the others; returns its ID. */
export async function roomWith(t: TestServer, owner: User, others: User[], options: Record<string, unknown> = {}): Promise<string> {
  const created = await t.api.post('/_matrix/client/v3/createRoom', { preset: 'private_chat', invite: others.map((u) => u.user_id), ...options }, owner.access_token)
  assert.equal(created.status, 200, JSON.stringify(created.body))
  const roomId: string = created.body.room_id
  for (const u of others) {
    const joined = await t.api.post(`/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {}, u.access_token)
    assert.equal(joined.status, 200, JSON.stringify(joined.body))
  }
  return roomId
}

/** Sends an event and returns its ID (asserting success). */
export async function send(t: TestServer, user: User, roomId: string, content: Record<string, unknown>, type = 'm.room.message'): Promise<string> {
  const res = await trySend(t, user, roomId, content, type)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.event_id
}

export function trySend(t: TestServer, user: User, roomId: string, content: Record<string, unknown>, type = 'm.room.message') {
  return t.api.put(`${room(roomId)}/send/${encodeURIComponent(type)}/rel${++txn}`, content, user.access_token)
}

export function text(body: string): Record<string, unknown> {
  return { msgtype: 'm.text', body }
}

export function edit(originalId: string, body: string): Record<string, unknown> {
  return {
    msgtype: 'm.text',
    body: `* ${body}`,
    'm.new_content': { msgtype: 'm.text', body },
    'm.relates_to': { rel_type: 'm.replace', event_id: originalId },
  }
}

export function reaction(parentId: string, key: string): Record<string, unknown> {
  return { 'm.relates_to': { rel_type: 'm.annotation', event_id: parentId, key } }
}

export function reference(parentId: string, body = 'ref'): Record<string, unknown> {
  return { msgtype: 'm.text', body, 'm.relates_to': { rel_type: 'm.reference', event_id: parentId } }
}

export function threadReply(rootId: string, body: string): Record<string, unknown> {
  return { msgtype: 'm.text', body, 'm.relates_to': { rel_type: 'm.thread', event_id: rootId } }
}

export async function getEvent(t: TestServer, user: User, roomId: string, eventId: string): Promise<any> {
  const res = await t.api.get(`${room(roomId)}/event/${encodeURIComponent(eventId)}`, user.access_token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

export async function redact(t: TestServer, user: User, roomId: string, eventId: string): Promise<string> {
  const res = await t.api.put(`${room(roomId)}/redact/${encodeURIComponent(eventId)}/red${++txn}`, {}, user.access_token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.event_id
}

export async function ignore(t: TestServer, user: User, ignored: string[]): Promise<void> {
  const body = { ignored_users: Object.fromEntries(ignored.map((u) => [u, {}])) }
  const res = await t.api.put(`/_matrix/client/v3/user/${encodeURIComponent(user.user_id)}/account_data/m.ignored_user_list`, body, user.access_token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
}

/** The event the spec's rule calls most recent: greatest origin_server_ts, then greatest event_id. */
export function mostRecent<E extends { event_id: string; origin_server_ts: number }>(events: E[]): E {
  return [...events].sort((a, b) => b.origin_server_ts - a.origin_server_ts || (a.event_id < b.event_id ? 1 : a.event_id > b.event_id ? -1 : 0))[0] as E
}
