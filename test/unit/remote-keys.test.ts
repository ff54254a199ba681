// What Homestead keeps of another server's answer to /user/keys/query and /user/keys/claim before a client
// sees it: only the users and devices asked, device keys naming their owner and device (passed on as signed:
// the client checks them), cross-signing keys of the right owner and usage, a self-signing key only when the
// master key signed it; one key per device claimed.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { takeClaimAnswer, takeQueryAnswer, type RemoteClaimResult, type RemoteQueryResult } from '../../src/e2ee/remote-keys.ts'
import { TestDevice, crossSigningKeys, type Json } from '../support/e2ee.ts'

const bob = '@bob:remote.example'
const eve = '@eve:remote.example'
const empty = (): Omit<RemoteQueryResult, 'failures'> => ({ device_keys: {}, master_keys: {}, self_signing_keys: {} })

describe('takeQueryAnswer', () => {
  const good = new TestDevice(bob, 'GOOD')
  const other = new TestDevice(bob, 'OTHER')
  const cross = crossSigningKeys(bob)

  it('keeps device keys signed by their own device and the cross-signing keys of the user asked', () => {
    const result = empty()
    const answer = {
      device_keys: { [bob]: { GOOD: good.deviceKeys(), OTHER: other.deviceKeys() } },
      master_keys: { [bob]: cross.body.master_key },
      self_signing_keys: { [bob]: cross.body.self_signing_key },
    }
    takeQueryAnswer(answer, { [bob]: [] }, result)
    assert.deepEqual(Object.keys(result.device_keys[bob] ?? {}).sort(), ['GOOD', 'OTHER'])
    assert.deepEqual(result.master_keys[bob], cross.body.master_key)
    assert.deepEqual(result.self_signing_keys[bob], cross.body.self_signing_key)
  })

  it('passes device keys on as signed (the client checks them) and drops misattributed and unasked ones', () => {
    const result = empty()
    const forged: Json = { ...good.deviceKeys(), algorithms: ['something.else'] }
    const eveDevice = new TestDevice(eve, 'EVE')
    const answer = {
      device_keys: {
        [bob]: { GOOD: forged, OTHER: other.deviceKeys(), RENAMED: good.deviceKeys(), NOTASKED: new TestDevice(bob, 'NOTASKED').deviceKeys() },
        [eve]: { EVE: eveDevice.deviceKeys() },
      },
      master_keys: { [bob]: { ...cross.body.master_key, user_id: eve }, [eve]: crossSigningKeys(eve).body.master_key },
      self_signing_keys: { [bob]: cross.body.self_signing_key },
    }
    takeQueryAnswer(answer, { [bob]: ['GOOD', 'OTHER', 'RENAMED'] }, result)
    assert.deepEqual(Object.keys(result.device_keys[bob] ?? {}), ['GOOD', 'OTHER'], 'keys under another device ID and an unasked device are dropped')
    assert.deepEqual(result.device_keys[bob]?.GOOD, forged, 'keys whose signature does not match are passed on as they are')
    assert.equal(result.device_keys[eve], undefined, 'a user not asked is dropped')
    assert.deepEqual(result.master_keys, {}, 'a master key naming another user is dropped')
    assert.deepEqual(result.self_signing_keys, {}, 'no self-signing key without its master key')
  })

  it('drops a self-signing key the master key did not sign, and leaves out users the server did not answer', () => {
    const result = empty()
    const stranger = crossSigningKeys(bob)
    const answer = { device_keys: { [bob]: {} }, master_keys: { [bob]: cross.body.master_key }, self_signing_keys: { [bob]: stranger.body.self_signing_key } }
    takeQueryAnswer(answer, { [bob]: [], [eve]: [] }, result)
    assert.deepEqual(result.device_keys, { [bob]: {} })
    assert.deepEqual(result.master_keys[bob], cross.body.master_key)
    assert.equal(result.self_signing_keys[bob], undefined)
  })

  it('survives answers of the wrong shape', () => {
    for (const answer of [null, 'text', [], { device_keys: [] }, { device_keys: { [bob]: 'x' } }, { device_keys: { [bob]: { D: null } } }]) {
      const result = empty()
      takeQueryAnswer(answer, { [bob]: [] }, result)
      assert.deepEqual(result.master_keys, {})
    }
  })
})

describe('takeClaimAnswer', () => {
  it('keeps one key of the algorithm asked per device asked', () => {
    const result: Omit<RemoteClaimResult, 'failures'> = { one_time_keys: {} }
    const answer = {
      one_time_keys: {
        [bob]: {
          D1: { 'signed_curve25519:AAA': { key: 'k1', signatures: {} }, 'signed_curve25519:BBB': { key: 'k2' } },
          D2: { 'curve25519:CCC': 'k3' },
          D3: { 'signed_curve25519:DDD': 42 },
          NOTASKED: { 'signed_curve25519:EEE': { key: 'k5' } },
        },
        [eve]: { E: { 'signed_curve25519:FFF': { key: 'k6' } } },
      },
    }
    takeClaimAnswer(answer, { [bob]: { D1: 'signed_curve25519', D2: 'signed_curve25519', D3: 'signed_curve25519' } }, result)
    assert.deepEqual(result.one_time_keys, { [bob]: { D1: { 'signed_curve25519:AAA': { key: 'k1', signatures: {} } } } })
  })
})
