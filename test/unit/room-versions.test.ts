// The room-version negotiation of make_join and make_knock: a room can only be joined or knocked on through a
// server that lists its version in `ver` (server-server API, "Joining Rooms", "Knocking upon a room").
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { requesterVersionError } from '../../src/protocol/room-versions.ts'
import { MatrixError } from '../../src/shared/errors.ts'

function assertIncompatible(error: MatrixError | null, roomVersion: string, membership: string): void {
  assert.ok(error instanceof MatrixError)
  assert.equal(error.status, 400)
  assert.deepEqual(error.toJSON(), {
    errcode: 'M_INCOMPATIBLE_ROOM_VERSION',
    error: `Your homeserver does not support the features required to ${membership} this room`,
    room_version: roomVersion,
  })
}

describe('requesterVersionError', () => {
  it('accepts a join from a server that lists the room version', () => {
    assert.equal(requesterVersionError('12', ['10', '11', '12'], 'join'), null)
    assert.equal(requesterVersionError('11', ['11'], 'join'), null)
  })

  it('refuses a join from a server that lacks the room version with 400 M_INCOMPATIBLE_ROOM_VERSION naming it', () => {
    assertIncompatible(requesterVersionError('12', ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11'], 'join'), '12', 'join')
    assertIncompatible(requesterVersionError('10', ['11', '12'], 'join'), '10', 'join')
    assertIncompatible(requesterVersionError('11', [], 'join'), '11', 'join')
  })

  it('compares versions as exact strings', () => {
    assertIncompatible(requesterVersionError('12', ['12.0', ' 12', 'org.example.12'], 'join'), '12', 'join')
    assertIncompatible(requesterVersionError('1', ['01'], 'join'), '1', 'join')
  })

  it('reads a make_join without ver as a server that supports version 1 only', () => {
    assert.equal(requesterVersionError('1', undefined, 'join'), null)
    assertIncompatible(requesterVersionError('2', undefined, 'join'), '2', 'join')
    assertIncompatible(requesterVersionError('12', undefined, 'join'), '12', 'join')
  })

  it('accepts or refuses a knock as it does a join, and requires ver of a knock (400 M_MISSING_PARAM)', () => {
    assert.equal(requesterVersionError('7', ['7', '12'], 'knock'), null)
    assertIncompatible(requesterVersionError('12', ['7', '11'], 'knock'), '12', 'knock')
    const missing = requesterVersionError('7', undefined, 'knock')
    assert.ok(missing instanceof MatrixError)
    assert.equal(missing.errcode, 'M_MISSING_PARAM')
    assert.equal(missing.status, 400)
  })
})
