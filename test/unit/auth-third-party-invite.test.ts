// Authorization rules, m.room.member invites with third_party_invite (rooms/v1–v12), the same in every version;
// the bounds on public keys and signatures, and the key that verifies (whose validity the issuing server checks).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { JsonObject } from '../../src/protocol/events/types.ts'
import { signJson, signingKeyFromSeed } from '../../src/protocol/signing.ts'
import { thirdPartyInvitePublicKeys, verifyingKey } from '../../src/protocol/auth/index.ts'
import { ALICE, BOB, CAROL, DAVE, TestRoom, assertAllowed, assertRefused, versions } from './auth-helpers.ts'

const identityKey = signingKeyFromSeed('ed25519:0', new Uint8Array(32).fill(7))
const otherKey = signingKeyFromSeed('ed25519:0', new Uint8Array(32).fill(9))

function signedBlob(mxid: string, token: string, key = identityKey): JsonObject {
  return signJson({ mxid, token, sender: ALICE }, 'id.example', key)
}

/** A room where Alice has invited "token" by email; Bob is joined, Dave is banned. */
function room(v: string, invite: JsonObject = { public_key: identityKey.publicKeyBase64 }): TestRoom {
  const r = new TestRoom(v, { members: { [BOB]: 'join', [DAVE]: 'ban' } })
  r.set({ type: 'm.room.third_party_invite', sender: ALICE, state_key: 'token', content: { display_name: 'c…@example.org', key_validity_url: 'https://id.example/v', ...invite } })
  return r
}

function invite(sender: string, target: string, thirdPartyInvite: unknown) {
  return { type: 'm.room.member', sender, state_key: target, content: { membership: 'invite', third_party_invite: thirdPartyInvite } }
}

describe('third-party invites', () => {
  it('allows an invite whose signed blob verifies with a key of the m.room.third_party_invite (7)', () => {
    for (const v of versions(1)) {
      assertAllowed(room(v).check(invite(ALICE, CAROL, { display_name: 'c', signed: signedBlob(CAROL, 'token') })), `v${v} public_key`)
      const listed = room(v, { public_key: otherKey.publicKeyBase64, public_keys: [{ public_key: 'bad' }, { public_key: identityKey.publicKeyBase64 }] })
      assertAllowed(listed.check(invite(ALICE, CAROL, { signed: signedBlob(CAROL, 'token') })), `v${v} public_keys`)
      // The rule allows before the ordinary invite checks: the target may already be joined.
      assertAllowed(room(v).check(invite(ALICE, BOB, { signed: signedBlob(BOB, 'token') })), `v${v} joined target`)
      assertRefused(room(v).check(invite(ALICE, CAROL, { signed: signedBlob(CAROL, 'token', otherKey) })), `v${v} wrong key`, /signature/)
      const tampered = { ...signedBlob(CAROL, 'token'), sender: BOB }
      assertRefused(room(v).check(invite(ALICE, CAROL, { signed: tampered })), `v${v} tampered`, /signature/)
      assertRefused(room(v).check(invite(ALICE, CAROL, { signed: { mxid: CAROL, token: 'token' } })), `v${v} unsigned`, /signature/)
    }
  })

  it('refuses a banned target (1)', () => {
    for (const v of versions(1)) {
      assertAllowed(room(v).check(invite(ALICE, CAROL, { signed: signedBlob(CAROL, 'token') })), `v${v}`)
      assertRefused(room(v).check(invite(ALICE, DAVE, { signed: signedBlob(DAVE, 'token') })), `v${v}`, /banned/)
    }
  })

  it('refuses a third_party_invite without signed, mxid or token (2, 3)', () => {
    for (const v of versions(1)) {
      assertAllowed(room(v).check(invite(ALICE, CAROL, { signed: signedBlob(CAROL, 'token') })), `v${v}`)
      assertRefused(room(v).check(invite(ALICE, CAROL, { display_name: 'c' })), `v${v} no signed`, /signed/)
      assertRefused(room(v).check(invite(ALICE, CAROL, 'yes')), `v${v} not an object`, /signed/)
      assertRefused(room(v).check(invite(ALICE, CAROL, { signed: signJson({ token: 'token' }, 'id.example', identityKey) })), `v${v} no mxid`, /mxid/)
      assertRefused(room(v).check(invite(ALICE, CAROL, { signed: signJson({ mxid: CAROL }, 'id.example', identityKey) })), `v${v} no token`, /token/)
    }
  })

  it('refuses a signed.mxid other than the state_key (4)', () => {
    for (const v of versions(1)) {
      assertAllowed(room(v).check(invite(ALICE, CAROL, { signed: signedBlob(CAROL, 'token') })), `v${v}`)
      assertRefused(room(v).check(invite(ALICE, CAROL, { signed: signedBlob('@eve:e.example', 'token') })), `v${v}`, /mxid/)
    }
  })

  it('refuses when no m.room.third_party_invite has the token as state_key (5)', () => {
    for (const v of versions(1)) {
      assertAllowed(room(v).check(invite(ALICE, CAROL, { signed: signedBlob(CAROL, 'token') })), `v${v}`)
      assertRefused(room(v).check(invite(ALICE, CAROL, { signed: signedBlob(CAROL, 'other') })), `v${v}`, /no m\.room\.third_party_invite/)
    }
  })

  it('refuses a sender other than the sender of the m.room.third_party_invite (6)', () => {
    for (const v of versions(1)) {
      assertAllowed(room(v).check(invite(ALICE, CAROL, { signed: signedBlob(CAROL, 'token') })), `v${v}`)
      assertRefused(room(v).check(invite(BOB, CAROL, { signed: signedBlob(CAROL, 'token') })), `v${v}`, /sender/)
    }
  })
})

describe('third-party invites: bounds and the verifying key', () => {
  const keys = (n: number) => Array.from({ length: n }, (_, i) => ({ public_key: signingKeyFromSeed('ed25519:0', new Uint8Array(32).fill(20 + i)).publicKeyBase64 }))

  it('allows a signature by any entity and ed25519 key ID, beside signatures of other algorithms', () => {
    for (const v of versions(1)) {
      const signed = signJson(signJson({ mxid: CAROL, token: 'token' }, 'other.example', signingKeyFromSeed('ed25519:x', new Uint8Array(32).fill(3))), 'id.example', identityKey)
      const withOthers = { ...signed, signatures: { ...signed.signatures, 'id.example': { ...signed.signatures['id.example'], 'curve25519:0': 'AAAA' } } }
      assertAllowed(room(v).check(invite(ALICE, CAROL, { signed: withOthers })), `v${v}`)
    }
  })

  it('refuses an invite whose m.room.third_party_invite offers more than 10 public keys, even one that verifies', () => {
    for (const v of versions(1)) {
      const ten = room(v, { public_keys: [...keys(9), { public_key: identityKey.publicKeyBase64 }] })
      assertAllowed(ten.check(invite(ALICE, CAROL, { signed: signedBlob(CAROL, 'token') })), `v${v} ten keys`)
      // public_key counts too: eleven keys in all.
      const eleven = room(v, { public_keys: [...keys(9), { public_key: identityKey.publicKeyBase64 }], public_key: otherKey.publicKeyBase64 })
      assertRefused(eleven.check(invite(ALICE, CAROL, { signed: signedBlob(CAROL, 'token') })), `v${v} eleven keys`, /more than 10 public keys/)
    }
  })

  it('refuses a signed block with more than 10 ed25519 signatures, even one that verifies', () => {
    const withSignatures = (n: number) => {
      const signed = signJson({ mxid: CAROL, token: 'token', sender: ALICE }, 'id.example', identityKey)
      const extra: Record<string, string> = {}
      for (let i = 0; i < n - 1; i++) extra[`ed25519:extra${i}`] = 'A'.repeat(86)
      return { ...signed, signatures: { 'id.example': { ...signed.signatures['id.example'] }, 'noise.example': extra } }
    }
    for (const v of versions(1)) {
      assertAllowed(room(v).check(invite(ALICE, CAROL, { signed: withSignatures(10) })), `v${v} ten signatures`)
      assertRefused(room(v).check(invite(ALICE, CAROL, { signed: withSignatures(11) })), `v${v} eleven signatures`, /more than 10 signatures/)
    }
  })

  it('names the key that verifies, with its key_validity_url (the legacy public_key with the top-level one)', () => {
    const r = room('12', { public_key: otherKey.publicKeyBase64, key_validity_url: 'https://id.example/legacy', public_keys: [{ public_key: identityKey.publicKeyBase64, key_validity_url: 'https://id.example/v2' }] })
    assertAllowed(r.check(invite(ALICE, CAROL, { signed: signedBlob(CAROL, 'token') })), 'listed key')
    const inviteEvent = r.get('m.room.third_party_invite', 'token')
    assert.deepEqual(thirdPartyInvitePublicKeys(inviteEvent), [
      { public_key: otherKey.publicKeyBase64, key_validity_url: 'https://id.example/legacy' },
      { public_key: identityKey.publicKeyBase64, key_validity_url: 'https://id.example/v2' },
    ])
    assert.deepEqual(verifyingKey(signedBlob(CAROL, 'token'), thirdPartyInvitePublicKeys(inviteEvent)), { public_key: identityKey.publicKeyBase64, key_validity_url: 'https://id.example/v2' })
    assert.equal(verifyingKey(signedBlob(CAROL, 'token', signingKeyFromSeed('ed25519:0', new Uint8Array(32).fill(1))), thirdPartyInvitePublicKeys(inviteEvent)), null)
  })
})
