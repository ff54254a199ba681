// What Homestead shows a client of another server's profile answer: well-formed keys only, displayname,
// avatar_url and m.tz of the right type and size; anything else in the answer is dropped, never an error.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { checkedRemoteProfile } from '../../src/users/remote-profiles.ts'

describe('checkedRemoteProfile', () => {
  it('keeps the standard fields and namespaced custom fields', () => {
    const answer = { displayname: 'Bob', avatar_url: 'mxc://remote.example/abc', 'm.tz': 'Europe/Paris', 'org.example.pronouns': { en: 'he/him' } }
    assert.deepEqual(checkedRemoteProfile(answer), answer)
  })

  it('drops ill-typed, oversized and malformed fields', () => {
    const answer = {
      displayname: 'x'.repeat(257),
      avatar_url: 'https://not.mxc/abc',
      'm.tz': 42,
      'Not A Key': 'x',
      [`org.example.${'k'.repeat(260)}`]: 'x',
      'org.example.kept': null,
    }
    assert.deepEqual(checkedRemoteProfile(answer), { 'org.example.kept': null })
    assert.deepEqual(checkedRemoteProfile({ displayname: null, avatar_url: 7 }), {})
  })

  it('answers {} for an answer that is not an object', () => {
    for (const answer of [null, 'Bob', [1, 2], 3]) assert.deepEqual(checkedRemoteProfile(answer), {})
  })
})
