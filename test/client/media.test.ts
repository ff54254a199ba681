// matrix-js-sdk and the content repository: one client uploads an avatar and posts an image; another reads
// the avatar and the m.image event and downloads and thumbnails both over the authenticated endpoints,
// using the URLs the SDK itself builds.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import sharp from 'sharp'
import { createClient, MsgType, type MatrixClient } from 'matrix-js-sdk'
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'

const t: TestServer = await startTestServer()
;(sdkLogger as unknown as { disableAll(): void }).disableAll()

async function client(): Promise<{ client: MatrixClient; token: string; userId: string }> {
  const session = await registerUser(t.api)
  return {
    client: createClient({ baseUrl: t.url, userId: session.user_id, accessToken: session.access_token, deviceId: session.device_id }),
    token: session.access_token,
    userId: session.user_id,
  }
}

async function fetchWithToken(url: string, token: string): Promise<{ status: number; type: string | null; bytes: Buffer }> {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } })
  return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) }
}

describe('matrix-js-sdk media', () => {
  it('uploads an avatar and an image that another client downloads and thumbnails', async () => {
    const alice = await client()
    const bob = await client()

    const avatar = await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 250, g: 200, b: 0 } } }).png().toBuffer()
    const avatarUpload = await alice.client.uploadContent(avatar, { name: 'avatar.png', type: 'image/png' })
    assert.match(avatarUpload.content_uri, /^mxc:\/\//)
    await alice.client.setAvatarUrl(avatarUpload.content_uri)

    const photo = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: { r: 30, g: 90, b: 160 } } }).jpeg().toBuffer()
    const photoUpload = await alice.client.uploadContent(photo, { name: 'photo.jpg', type: 'image/jpeg' })
    const { room_id: roomId } = await alice.client.createRoom({ invite: [bob.userId] })
    await bob.client.joinRoom(roomId)
    const { event_id: eventId } = await alice.client.sendMessage(roomId, {
      msgtype: MsgType.Image,
      body: 'photo.jpg',
      url: photoUpload.content_uri,
      info: { mimetype: 'image/jpeg', size: photo.length, w: 1600, h: 1200 },
    })

    // Bob sees Alice's avatar and downloads its thumbnail through the URL the SDK builds (authenticated media).
    const profile = await bob.client.getProfileInfo(alice.userId)
    assert.equal(profile.avatar_url, avatarUpload.content_uri)
    const avatarThumbUrl = bob.client.mxcUrlToHttp(profile.avatar_url!, 96, 96, 'crop', false, true, true)
    assert.ok(avatarThumbUrl?.includes('/_matrix/client/v1/media/thumbnail/'), String(avatarThumbUrl))
    const avatarThumb = await fetchWithToken(avatarThumbUrl!, bob.token)
    assert.equal(avatarThumb.status, 200)
    const avatarMeta = await sharp(avatarThumb.bytes).metadata()
    assert.deepEqual([avatarMeta.width, avatarMeta.height], [96, 96])

    // Bob reads the m.image event, downloads the full image and a scaled thumbnail.
    const event = await bob.client.fetchRoomEvent(roomId, eventId)
    const url = (event.content as { url: string }).url
    assert.equal(url, photoUpload.content_uri)
    const full = await fetchWithToken(bob.client.mxcUrlToHttp(url, undefined, undefined, undefined, false, true, true)!, bob.token)
    assert.equal(full.status, 200)
    assert.equal(full.type, 'image/jpeg')
    assert.ok(full.bytes.equals(photo))
    const thumb = await fetchWithToken(bob.client.mxcUrlToHttp(url, 320, 240, 'scale', false, true, true)!, bob.token)
    assert.equal(thumb.status, 200)
    const thumbMeta = await sharp(thumb.bytes).metadata()
    assert.deepEqual([thumbMeta.format, thumbMeta.width, thumbMeta.height], ['jpeg', 320, 240])

    // Without a token the authenticated endpoint refuses.
    const anonymous = await fetch(bob.client.mxcUrlToHttp(url, undefined, undefined, undefined, false, true, true)!)
    assert.equal(anonymous.status, 401)
    alice.client.stopClient()
    bob.client.stopClient()
  })
})
