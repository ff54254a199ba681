// Helpers shared by the typing and receipts suites: a two-member room and /sync long-polls that run until
// the response a test waits for arrives.
import { registerUser, type Api, type Session } from './server.ts'

export type User = Session

export const room = (roomId: string) => `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`

/** Alice creates a room and Bob joins it. */
export async function twoMemberRoom(api: Api): Promise<{ alice: User; bob: User; roomId: string }> {
  const alice = await registerUser(api)
  const bob = await registerUser(api)
  const created = await api.post('/_matrix/client/v3/createRoom', { invite: [bob.user_id] }, alice.access_token)
  if (created.status !== 200) throw new Error(`createRoom failed: ${JSON.stringify(created.body)}`)
  const roomId: string = created.body.room_id
  const joined = await api.post(`/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {}, bob.access_token)
  if (joined.status !== 200) throw new Error(`join failed: ${JSON.stringify(joined.body)}`)
  return { alice, bob, roomId }
}

let txn = 0

export async function sendText(api: Api, user: User, roomId: string, body: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await api.put(`${room(roomId)}/send/m.room.message/t${process.pid}x${++txn}`, { msgtype: 'm.text', body, ...extra }, user.access_token)
  if (res.status !== 200) throw new Error(`send failed: ${JSON.stringify(res.body)}`)
  return res.body.event_id
}

export async function initialSync(api: Api, user: User): Promise<any> {
  const res = await api.get('/_matrix/client/v3/sync', user.access_token)
  if (res.status !== 200) throw new Error(`sync failed: ${JSON.stringify(res.body)}`)
  return res.body
}

/**
 * Long-polls /sync from `since` until a response satisfies `done`; returns every response seen (so a test
 * can also assert what never appeared) and the last next_batch. Gives up after `giveUpMs`.
 */
export async function syncUntil(api: Api, user: User, since: string, done: (body: any) => boolean, giveUpMs = 30000): Promise<{ responses: any[]; next: string }> {
  const responses: any[] = []
  const deadline = Date.now() + giveUpMs
  let token = since
  while (Date.now() < deadline) {
    const res = await api.get(`/_matrix/client/v3/sync?since=${token}&timeout=10000`, user.access_token)
    if (res.status !== 200) throw new Error(`sync failed: ${JSON.stringify(res.body)}`)
    responses.push(res.body)
    token = res.body.next_batch
    if (done(res.body)) return { responses, next: token }
  }
  throw new Error(`the awaited /sync response did not arrive within ${giveUpMs} ms`)
}

/** The ephemeral events of a joined room in a /sync response, of one type. */
export function ephemeralOf(body: any, roomId: string, type: string): any[] {
  return (body.rooms?.join?.[roomId]?.ephemeral?.events ?? []).filter((e: { type: string }) => e.type === type)
}

/** The user IDs of the last m.typing event for the room in the response, or null when there is none. */
export function typingIn(body: any, roomId: string): string[] | null {
  const events = ephemeralOf(body, roomId, 'm.typing')
  return events.length === 0 ? null : events[events.length - 1].content.user_ids
}
