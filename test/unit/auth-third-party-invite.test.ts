// Authorization rules, m.room.member invites with third_party_invite (rooms/v1–v12), the same in every version.
import { describe, it } from 'node:test'
import type { JsonObject } from '../../src/protocol/events/types.ts'
import { signJson, signingKeyFromSeed } from '../../src/protocol/signing.ts'
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
