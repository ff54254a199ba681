// A small client for room tests: one registered user's session with helpers for the room and /sync
// endpoints that assert success, plus `raw` access for tests of refusals.
import assert from 'node:assert/strict'
import { registerUser, type Api, type ApiResponse } from './server.ts'

export const CS = '/_matrix/client/v3'

/** A room ID or event ID made safe for a path segment. */
export const enc = encodeURIComponent

export interface ClientEventJson {
  event_id: string
  type: string
  sender: string
  room_id: string
  origin_server_ts: number
  state_key?: string
  content: Record<string, any>
  unsigned?: Record<string, any>
  redacts?: string
}

let txnCounter = 0

export class RoomClient {
  readonly api: Api
  readonly userId: string
  readonly token: string
  readonly deviceId: string

  constructor(api: Api, session: { user_id: string; access_token: string; device_id: string }) {
    this.api = api
    this.userId = session.user_id
    this.token = session.access_token
    this.deviceId = session.device_id
  }

  static async register(api: Api, options: { username?: string; deviceId?: string } = {}): Promise<RoomClient> {
    return new RoomClient(api, await registerUser(api, options))
  }

  /** The same session, served by another instance (as behind a load balancer). */
  on(api: Api): RoomClient {
    return new RoomClient(api, { user_id: this.userId, access_token: this.token, device_id: this.deviceId })
  }

  get(path: string): Promise<ApiResponse> {
    return this.api.get(CS + path, this.token)
  }
  post(path: string, body: unknown = {}): Promise<ApiResponse> {
    return this.api.post(CS + path, body, this.token)
  }
  put(path: string, body: unknown = {}): Promise<ApiResponse> {
    return this.api.put(CS + path, body, this.token)
  }

  private static ok(res: ApiResponse, what: string): any {
    assert.equal(res.status, 200, `${what}: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body
  }

  async createRoom(body: Record<string, unknown> = {}): Promise<string> {
    return RoomClient.ok(await this.post('/createRoom', body), 'createRoom').room_id
  }

  sendRaw(roomId: string, content: Record<string, unknown>, type = 'm.room.message', txnId = `t${process.pid}x${++txnCounter}`): Promise<ApiResponse> {
    return this.put(`/rooms/${enc(roomId)}/send/${enc(type)}/${enc(txnId)}`, content)
  }

  async send(roomId: string, content: Record<string, unknown> | string, type = 'm.room.message', txnId?: string): Promise<string> {
    const body = typeof content === 'string' ? { msgtype: 'm.text', body: content } : content
    return RoomClient.ok(await this.sendRaw(roomId, body, type, txnId), `send ${type}`).event_id
  }

  putStateRaw(roomId: string, type: string, stateKey: string, content: Record<string, unknown>): Promise<ApiResponse> {
    const key = stateKey === '' ? '' : `/${enc(stateKey)}`
    return this.put(`/rooms/${enc(roomId)}/state/${enc(type)}${key}`, content)
  }

  async putState(roomId: string, type: string, stateKey: string, content: Record<string, unknown>): Promise<string> {
    return RoomClient.ok(await this.putStateRaw(roomId, type, stateKey, content), `state ${type}`).event_id
  }

  async getState(roomId: string, type: string, stateKey = ''): Promise<Record<string, any>> {
    return RoomClient.ok(await this.get(`/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`), `get state ${type}`)
  }

  async fullState(roomId: string): Promise<ClientEventJson[]> {
    return RoomClient.ok(await this.get(`/rooms/${enc(roomId)}/state`), 'get state')
  }

  async join(roomIdOrAlias: string): Promise<string> {
    return RoomClient.ok(await this.post(`/join/${enc(roomIdOrAlias)}`), `join ${roomIdOrAlias}`).room_id
  }

  async invite(roomId: string, userId: string): Promise<void> {
    RoomClient.ok(await this.post(`/rooms/${enc(roomId)}/invite`, { user_id: userId }), `invite ${userId}`)
  }

  async leave(roomId: string): Promise<void> {
    RoomClient.ok(await this.post(`/rooms/${enc(roomId)}/leave`), 'leave')
  }

  membershipRaw(action: 'kick' | 'ban' | 'unban' | 'invite', roomId: string, userId: string, reason?: string): Promise<ApiResponse> {
    return this.post(`/rooms/${enc(roomId)}/${action}`, { user_id: userId, ...(reason !== undefined ? { reason } : {}) })
  }

  async sync(params: Record<string, string | number | boolean | undefined> = {}): Promise<any> {
    return RoomClient.ok(await this.get(`/sync${query(params)}`), 'sync')
  }

  async messages(roomId: string, params: Record<string, string | number | undefined>): Promise<{ chunk: ClientEventJson[]; start: string; end?: string; state?: ClientEventJson[] }> {
    return RoomClient.ok(await this.get(`/rooms/${enc(roomId)}/messages${query(params)}`), 'messages')
  }

  async event(roomId: string, eventId: string): Promise<ClientEventJson> {
    return RoomClient.ok(await this.get(`/rooms/${enc(roomId)}/event/${enc(eventId)}`), 'get event')
  }
}

/** A query string from the defined parameters (objects are JSON-encoded). */
export function query(params: Record<string, unknown>): string {
  const parts: string[] = []
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue
    parts.push(`${k}=${encodeURIComponent(typeof v === 'object' ? JSON.stringify(v) : String(v))}`)
  }
  return parts.length > 0 ? `?${parts.join('&')}` : ''
}

/** Creates a room with `owner` and joins every other client to it (public room, so no invites needed). */
export async function sharedRoom(owner: RoomClient, others: RoomClient[], body: Record<string, unknown> = {}): Promise<string> {
  const roomId = await owner.createRoom({ preset: 'public_chat', ...body })
  for (const c of others) await c.join(roomId)
  return roomId
}

export const ids = (events: Array<{ event_id: string }>) => events.map((e) => e.event_id)
export const bodies = (events: Array<{ content: Record<string, any> }>) => events.map((e) => e.content.body)

/** Asserts an error response's status and errcode. */
export function assertError(res: ApiResponse, status: number, errcode: string, what = ''): void {
  assert.equal(res.status, status, `${what} expected ${status} ${errcode}, got ${res.status} ${JSON.stringify(res.body)}`)
  assert.equal(res.body?.errcode, errcode, `${what} ${JSON.stringify(res.body)}`)
}
