// X-Matrix request authentication (server-server-api, "Request Authentication"): the header grammar
// from the spec's example and RFC 9110, and signing/verifying the request JSON.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { sign as cryptoSign } from 'node:crypto'
import { formatXMatrix, parseXMatrix, signRequest, verifyRequestSignature, type SignedRequest } from '../../src/protocol/x-matrix.ts'
import { signingKeyFromSeed } from '../../src/protocol/signing.ts'
import { decodeBase64, encodeBase64 } from '../../src/protocol/base64.ts'

// The appendices' signing-key test vector.
const key = signingKeyFromSeed('ed25519:1', decodeBase64('YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1')!)
const other = signingKeyFromSeed('ed25519:1', Buffer.alloc(32, 7))

describe('parseXMatrix', () => {
  it("parses the spec's example header", () => {
    const header = 'X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:key1",sig="ABCDEF..."'
    assert.deepEqual(parseXMatrix(header), { origin: 'origin.hs.example.com', destination: 'destination.hs.example.com', key: 'ed25519:key1', sig: 'ABCDEF...' })
  })

  it('takes names in any case and order, spaces and tabs around commas, several spaces after the scheme', () => {
    const header = 'X-Matrix   SIG="abc" ,\tKey="ed25519:k" , Origin="a.example",destination="b.example"'
    assert.deepEqual(parseXMatrix(header), { origin: 'a.example', destination: 'b.example', key: 'ed25519:k', sig: 'abc' })
  })

  it('takes unquoted token values, and colons unquoted for older servers', () => {
    assert.deepEqual(parseXMatrix('X-Matrix origin=a.example:8448,key=ed25519:k,sig=abc+/x'), { origin: 'a.example:8448', destination: null, key: 'ed25519:k', sig: 'abc+/x' })
  })

  it('unescapes backslash pairs in quoted values', () => {
    assert.equal(parseXMatrix('X-Matrix origin="a\\.exa\\"mple",key="k",sig="s"')?.origin, 'a.exa"mple')
  })

  it('accepts a header without destination (older servers) and ignores unknown parameters', () => {
    assert.deepEqual(parseXMatrix('X-Matrix origin="a",key="k",sig="s",future="x"'), { origin: 'a', destination: null, key: 'k', sig: 's' })
  })

  it('refuses other schemes, missing parameters, repeats and malformed lists', () => {
    const bad = [
      'Bearer abc', 'X-Matrix', 'X-Matrixorigin="a",key="k",sig="s"', 'X-Matrix origin="a",key="k"', 'X-Matrix origin="a",sig="s"',
      'X-Matrix key="k",sig="s"', 'X-Matrix origin="a",origin="b",key="k",sig="s"', 'X-Matrix origin="a,key="k",sig="s"',
      'X-Matrix origin="a" key="k",sig="s"', 'X-Matrix origin="a",,key="k",sig="s"', 'X-Matrix origin="a",key="k",sig="s",', 'X-Matrix origin=,key="k",sig="s"',
      'X-Matrix origin="a",key="k",sig="s\\', 'X-Matrix origin="a\nb",key="k",sig="s"', 'X-Matrix origin=a b,key=k,sig=s',
    ]
    for (const header of bad) assert.equal(parseXMatrix(header), null, header)
  })

  it('reads back what formatXMatrix writes', () => {
    const auth = { origin: '[::1]:8448', destination: '1.2.3.4:80', key: 'ed25519:a_b', sig: 'x/y+z' }
    assert.deepEqual(parseXMatrix(formatXMatrix(auth)), auth)
    assert.throws(() => formatXMatrix({ ...auth, origin: 'a"b' }))
  })
})

describe('signRequest / verifyRequestSignature', () => {
  const request: SignedRequest = { method: 'POST', uri: '/target?x=1', origin: 'origin.hs.example.com', destination: 'destination.hs.example.com', content: { b: [1, 'two'], a: null } }

  it('signs the canonical JSON of method, uri, origin, destination and content with the origin key', () => {
    const header = signRequest(request, key)
    assert.match(header, /^X-Matrix origin="origin\.hs\.example\.com",destination="destination\.hs\.example\.com",key="ed25519:1",sig="[A-Za-z0-9+/]+"$/)
    const canonical = '{"content":{"a":null,"b":[1,"two"]},"destination":"destination.hs.example.com","method":"POST","origin":"origin.hs.example.com","uri":"/target?x=1"}'
    const expected = encodeBase64(cryptoSign(null, Buffer.from(canonical), key.privateKey))
    assert.equal(parseXMatrix(header)?.sig, expected)
  })

  it('leaves content out of the signed JSON when there is no body', () => {
    const { content: _c, ...bodiless } = request
    const canonical = '{"destination":"destination.hs.example.com","method":"POST","origin":"origin.hs.example.com","uri":"/target?x=1"}'
    assert.equal(parseXMatrix(signRequest(bodiless, key))?.sig, encodeBase64(cryptoSign(null, Buffer.from(canonical), key.privateKey)))
  })

  it('verifies a signature, and refuses one over another method, uri, body or destination, or by another key', () => {
    const auth = parseXMatrix(signRequest(request, key))!
    assert.equal(verifyRequestSignature(request, auth, key.publicKey), true)
    assert.equal(verifyRequestSignature({ ...request, method: 'PUT' }, auth, key.publicKey), false)
    assert.equal(verifyRequestSignature({ ...request, uri: '/target?x=2' }, auth, key.publicKey), false)
    assert.equal(verifyRequestSignature({ ...request, content: { a: 1 } }, auth, key.publicKey), false)
    assert.equal(verifyRequestSignature({ ...request, destination: 'evil.example' }, auth, key.publicKey), false)
    assert.equal(verifyRequestSignature(request, auth, other.publicKey), false)
    assert.equal(verifyRequestSignature(request, { ...auth, sig: 'not base64!' }, key.publicKey), false)
  })

  it('signs and verifies a body holding floats (events of rooms v1–v5) as Synapse writes them', () => {
    // A transaction carrying a v1 room's "floaty" power levels: floats in Python's repr(), as Synapse signs it.
    const floaty: SignedRequest = { ...request, content: { pdus: [{ content: { users_default: 0.5, ban: 50.0 } }] } }
    const canonical =
      '{"content":{"pdus":[{"content":{"ban":50,"users_default":0.5}}]},"destination":"destination.hs.example.com","method":"POST","origin":"origin.hs.example.com","uri":"/target?x=1"}'
    const bySynapse = { origin: floaty.origin, destination: floaty.destination, key: key.keyId, sig: encodeBase64(cryptoSign(null, Buffer.from(canonical), key.privateKey)) }
    assert.equal(verifyRequestSignature(floaty, bySynapse, key.publicKey), true)
    assert.equal(parseXMatrix(signRequest(floaty, key))?.sig, bySynapse.sig)
    assert.equal(verifyRequestSignature({ ...floaty, content: { pdus: [{ content: { users_default: 0.25, ban: 50 } }] } }, bySynapse, key.publicKey), false)
  })
})
