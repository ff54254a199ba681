// parseUserDevices: what of another server's /user/devices answer is kept when a remote device list is
// fetched whole (RemoteDeviceLists.resync).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseUserDevices } from '../../src/e2ee/index.ts'
import { crossSigningKeys } from '../support/e2ee.ts'

const alice = '@alice:remote.example'

describe('parseUserDevices', () => {
  it('keeps the stream ID, the devices with their names and keys, and valid cross-signing keys', () => {
    const cross = crossSigningKeys(alice)
    const parsed = parseUserDevices({
      user_id: alice,
      stream_id: 7,
      devices: [
        { device_id: 'PHONE', device_display_name: 'Phone', keys: { user_id: alice, device_id: 'PHONE', keys: { 'ed25519:PHONE': 'k' } } },
        { device_id: 'BARE' },
      ],
      master_key: cross.body.master_key,
      self_signing_key: cross.body.self_signing_key,
    }, alice)
    assert.equal(parsed?.streamId, 7)
    assert.deepEqual(parsed?.devices, [
      { device_id: 'PHONE', display_name: 'Phone', keys_json: JSON.stringify({ user_id: alice, device_id: 'PHONE', keys: { 'ed25519:PHONE': 'k' } }) },
      { device_id: 'BARE', display_name: null, keys_json: null },
    ])
    assert.deepEqual(parsed?.crossSigningKeys.map((k) => k.keyType), ['master', 'self_signing'])
  })

  it('refuses an answer about another user or without a stream ID or device list', () => {
    assert.equal(parseUserDevices({ user_id: '@bob:remote.example', stream_id: 1, devices: [] }, alice), null)
    assert.equal(parseUserDevices({ user_id: alice, stream_id: 1.5, devices: [] }, alice), null)
    assert.equal(parseUserDevices({ user_id: alice, stream_id: 1 }, alice), null)
    assert.equal(parseUserDevices('nope', alice), null)
  })

  it('drops keys naming another user or device, malformed devices and malformed cross-signing keys', () => {
    const parsed = parseUserDevices({
      user_id: alice,
      stream_id: 1,
      devices: [
        { device_id: 'A', keys: { user_id: '@mallory:remote.example', device_id: 'A' } },
        { device_id: 'B', keys: { user_id: alice, device_id: 'C' } },
        { device_id: '' },
        { device_id: 5 },
        'x',
      ],
      master_key: { user_id: alice, usage: ['master'], keys: { 'ed25519:a': 'b', 'ed25519:c': 'd' } },
    }, alice)
    assert.deepEqual(parsed?.devices.map((d) => [d.device_id, d.keys_json]), [['A', null], ['B', null]])
    assert.deepEqual(parsed?.crossSigningKeys, [])
  })
})
