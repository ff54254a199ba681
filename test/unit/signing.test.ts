// JSON signing against the spec's cryptographic test vectors (appendices, "Cryptographic Test Vectors").
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeBase64 } from '../../src/protocol/base64.ts'
import { signJson, signingKeyFromSeed, verifyJsonSignature, verifyKeyFromBase64 } from '../../src/protocol/signing.ts'

const seed = decodeBase64('YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1') as Buffer
const key = signingKeyFromSeed('ed25519:1', seed)

describe('signJson', () => {
  it('signs an empty object as the spec says', () => {
    assert.deepEqual(signJson({}, 'domain', key), {
      signatures: { domain: { 'ed25519:1': 'K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ' } },
    })
  })

  it('signs an object with data values as the spec says', () => {
    assert.deepEqual(signJson({ one: 1, two: 'Two' }, 'domain', key), {
      one: 1,
      signatures: { domain: { 'ed25519:1': 'KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw' } },
      two: 'Two',
    })
  })

  it('leaves unsigned out of the signature and keeps existing signatures', () => {
    const signed = signJson({ one: 1, unsigned: { age_ts: 5 }, signatures: { other: { 'ed25519:x': 'abc' } } }, 'domain', key)
    assert.equal(signed.signatures.domain?.['ed25519:1'], signJson({ one: 1 }, 'domain', key).signatures.domain?.['ed25519:1'])
    assert.deepEqual(signed.signatures.other, { 'ed25519:x': 'abc' })
    assert.deepEqual(signed.unsigned, { age_ts: 5 })
  })
})

describe('verifyJsonSignature', () => {
  const verifyKey = verifyKeyFromBase64(key.publicKeyBase64)!
  const signed = signJson({ one: 1, two: 'Two' }, 'domain', key)

  it('accepts a valid signature, even with unsigned data added afterwards', () => {
    assert.equal(verifyJsonSignature({ ...signed, unsigned: { x: 1 } }, 'domain', 'ed25519:1', verifyKey), true)
  })

  it('refuses a signature over different content', () => {
    assert.equal(verifyJsonSignature({ ...signed, two: 'Three' }, 'domain', 'ed25519:1', verifyKey), false)
  })

  it('refuses a missing entity, a missing key ID and undecodable signatures', () => {
    assert.equal(verifyJsonSignature(signed, 'elsewhere', 'ed25519:1', verifyKey), false)
    assert.equal(verifyJsonSignature(signed, 'domain', 'ed25519:2', verifyKey), false)
    assert.equal(verifyJsonSignature({ ...signed, signatures: { domain: { 'ed25519:1': '!!' } } }, 'domain', 'ed25519:1', verifyKey), false)
  })

  it('refuses a signature made by another key', () => {
    const other = signingKeyFromSeed('ed25519:1', Buffer.alloc(32, 7))
    assert.equal(verifyJsonSignature(signJson({ one: 1 }, 'domain', other), 'domain', 'ed25519:1', verifyKey), false)
  })
})
