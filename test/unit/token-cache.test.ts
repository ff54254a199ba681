// The in-memory access-token cache's rules (src/users/token-cache.ts); its use across instances is tested
// in test/http/token-cache.test.ts.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { TokenCache } from '../../src/users/token-cache.ts'
import type { AccessTokenLookup } from '../../src/storage/index.ts'

const row = (user_id: string): AccessTokenLookup => ({
  user_id,
  device_id: 'D',
  expires_ts: null,
  used: false,
  refresh_token_id: null,
  admin: false,
  is_guest: false,
  deactivated: false,
  last_seen_ts: null,
})

function live(): TokenCache {
  const cache = new TokenCache()
  cache.setLive(true)
  return cache
}

describe('TokenCache', () => {
  it('serves what it was given while its listener is connected, and nothing otherwise', () => {
    const cache = new TokenCache()
    cache.set('k', row('@a:x'), cache.version, 0)
    assert.equal(cache.get('k', 0), undefined, 'not live yet: nothing kept')
    cache.setLive(true)
    cache.set('k', row('@a:x'), cache.version, 0)
    assert.equal(cache.get('k', 1)?.user_id, '@a:x')
    cache.setLive(false)
    assert.equal(cache.get('k', 2), undefined, 'disconnected: bypassed')
    cache.setLive(true)
    assert.equal(cache.get('k', 3), undefined, 'reconnected: starts empty (notifications were lost meanwhile)')
  })

  it("forgets a user's tokens on a notification, and no other user's", () => {
    const cache = live()
    cache.set('a1', row('@a:x'), cache.version, 0)
    cache.set('a2', row('@a:x'), cache.version, 0)
    cache.set('b1', row('@b:x'), cache.version, 0)
    cache.invalidate('@a:x')
    assert.equal(cache.get('a1', 0), undefined)
    assert.equal(cache.get('a2', 0), undefined)
    assert.equal(cache.get('b1', 0)?.user_id, '@b:x')
  })

  it('does not keep a lookup that started before an invalidation', () => {
    const cache = live()
    const version = cache.version
    cache.invalidate('@someone:x')
    cache.set('k', row('@a:x'), version, 0)
    assert.equal(cache.get('k', 0), undefined)
  })

  it('keeps nothing for a user whose tokens are being revoked until the notification, or until the suspension lapses', () => {
    const cache = live()
    cache.set('k', row('@a:x'), cache.version, 0)
    cache.suspend('@a:x', 1000)
    assert.equal(cache.get('k', 1000), undefined)
    cache.set('k', row('@a:x'), cache.version, 1001)
    assert.equal(cache.get('k', 1001), undefined, 'suspended: not cached')
    cache.invalidate('@a:x')
    cache.set('k', row('@a:x'), cache.version, 1002)
    assert.equal(cache.get('k', 1002)?.user_id, '@a:x', 'the notification ended the suspension')
    cache.suspend('@b:x', 0)
    cache.set('b', row('@b:x'), cache.version, 60_000)
    assert.equal(cache.get('b', 60_000)?.user_id, '@b:x', 'a suspension whose transaction rolled back lapses')
  })

  it('lets entries expire', () => {
    const cache = live()
    cache.set('k', row('@a:x'), cache.version, 0)
    assert.ok(cache.get('k', 60_000))
    assert.equal(cache.get('k', 11 * 60_000), undefined)
  })
})
