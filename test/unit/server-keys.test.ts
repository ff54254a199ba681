// Checking server key documents (server-server-api, "Retrieving server keys") and notary co-signatures,
// and how long a .well-known answer is cached from its headers.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { checkKeyResponse, checkNotarySignature, MAX_KEY_VALIDITY_MS, MAX_KEYS_PER_SERVER } from '../../src/protocol/server-keys.ts'
import { signJson, signingKeyFromSeed } from '../../src/protocol/signing.ts'
import { wellKnownCacheMs } from '../../src/federation/discovery.ts'

const now = 1_700_000_000_000
const current = signingKeyFromSeed('ed25519:cur', Buffer.alloc(32, 1))
const old = signingKeyFromSeed('ed25519:old', Buffer.alloc(32, 2))
const notary = signingKeyFromSeed('ed25519:n', Buffer.alloc(32, 3))

function document(overrides: Record<string, unknown> = {}) {
  return signJson({
    server_name: 'example.org',
    valid_until_ts: now + 3600_000,
    verify_keys: { [current.keyId]: { key: current.publicKeyBase64 } },
    old_verify_keys: { [old.keyId]: { key: old.publicKeyBase64, expired_ts: now - 1000 } },
    ...overrides,
  }, 'example.org', current)
}

describe('checkKeyResponse', () => {
  it('accepts a self-signed document: current keys until valid_until_ts, old keys until expired_ts', () => {
    const checked = checkKeyResponse(document(), 'example.org', now)
    assert.ok(checked.ok)
    assert.deepEqual(checked.keys.map((k) => [k.keyId, k.validUntilTs, k.expiredTs]), [['ed25519:cur', now + 3600_000, null], ['ed25519:old', now - 1000, now - 1000]])
  })

  it(`refuses a document listing more than ${MAX_KEYS_PER_SERVER} keys (each would be stored and read back)`, () => {
    const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`ed25519:o${i}`, { key: old.publicKeyBase64, expired_ts: now - 1000 }]))
    assert.ok(checkKeyResponse(document({ old_verify_keys: many(MAX_KEYS_PER_SERVER - 1) }), 'example.org', now).ok)
    const refused = checkKeyResponse(document({ old_verify_keys: many(MAX_KEYS_PER_SERVER) }), 'example.org', now)
    assert.equal(refused.ok, false)
  })

  it('trusts valid_until_ts for at most 7 days', () => {
    const checked = checkKeyResponse(document({ valid_until_ts: now + 365 * 86400_000 }), 'example.org', now)
    assert.ok(checked.ok)
    assert.equal(checked.keys[0]!.validUntilTs, now + MAX_KEY_VALIDITY_MS)
  })

  it('refuses another server name, a missing or bad signature, and malformed fields', () => {
    assert.equal(checkKeyResponse(document(), 'other.org', now).ok, false)
    const { signatures: _s, ...unsigned } = document()
    assert.equal(checkKeyResponse(unsigned, 'example.org', now).ok, false)
    assert.equal(checkKeyResponse({ ...document(), valid_until_ts: now + 1 }, 'example.org', now).ok, false, 'changed after signing')
    assert.equal(checkKeyResponse(signJson(document(), 'example.org', old), 'example.org', now).ok, true, 'an extra signature by a key not in verify_keys is ignored')
    const byOldOnly = signJson({ ...document(), signatures: {} }, 'example.org', old)
    assert.equal(checkKeyResponse(byOldOnly, 'example.org', now).ok, false, 'signed only by an old key')
    assert.equal(checkKeyResponse(document({ valid_until_ts: 'soon' }), 'example.org', now).ok, false)
    assert.equal(checkKeyResponse(document({ verify_keys: { [current.keyId]: { key: 'short' } } }), 'example.org', now).ok, false)
    assert.equal(checkKeyResponse(document({ old_verify_keys: { 'ed25519:x': { key: old.publicKeyBase64 } } }), 'example.org', now).ok, false)
  })

  it("refuses the spec's example document, whose signature is a placeholder", () => {
    // data/api/server-server/examples/server_key.json
    const example = {
      server_name: 'example.org',
      verify_keys: { 'ed25519:abc123': { key: 'VGhpcyBzaG91bGQgYmUgYSByZWFsIGVkMjU1MTkgcGF5bG9hZA' } },
      old_verify_keys: { 'ed25519:0ldk3y': { expired_ts: 1532645052628, key: 'VGhpcyBzaG91bGQgYmUgeW91ciBvbGQga2V5J3MgZWQyNTUxOSBwYXlsb2FkLg' } },
      signatures: { 'example.org': { 'ed25519:auto2': 'VGhpcyBzaG91bGQgYWN0dWFsbHkgYmUgYSBzaWduYXR1cmU' } },
      valid_until_ts: 1652262000000,
    }
    assert.equal(checkKeyResponse(example, 'example.org', now).ok, false)
  })
})

describe('checkNotarySignature', () => {
  it('accepts a document co-signed with a known notary key, refuses one without or with a bad one', () => {
    const keys = new Map([[notary.keyId, notary.publicKey]])
    assert.equal(checkNotarySignature(signJson(document(), 'notary.org', notary), 'notary.org', keys), true)
    assert.equal(checkNotarySignature(document(), 'notary.org', keys), false)
    const forged = signJson(document(), 'notary.org', signingKeyFromSeed('ed25519:n', Buffer.alloc(32, 9)))
    assert.equal(checkNotarySignature(forged, 'notary.org', keys), false)
  })
})

describe('wellKnownCacheMs', () => {
  it('follows max-age and Expires within 5 minutes and 48 hours, 24 hours without either', () => {
    assert.equal(wellKnownCacheMs({ 'cache-control': 'public, max-age=3600' }, now), 3600_000)
    assert.equal(wellKnownCacheMs({ 'cache-control': 'max-age=10' }, now), 5 * 60_000)
    assert.equal(wellKnownCacheMs({ 'cache-control': 'max-age=999999' }, now), 48 * 3600_000)
    assert.equal(wellKnownCacheMs({ 'cache-control': 'no-store' }, now), 5 * 60_000)
    assert.equal(wellKnownCacheMs({ expires: new Date(now + 7200_000).toUTCString() }, now), 7200_000)
    assert.equal(wellKnownCacheMs({}, now), 24 * 3600_000)
  })
})
