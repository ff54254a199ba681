// Canonical JSON against the examples of the spec's appendices ("Canonical JSON").
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { CanonicalJsonError, canonicalJson, compareCodePoints } from '../../src/protocol/canonical-json.ts'

describe('canonicalJson', () => {
  const examples: Array<[unknown, string]> = [
    [{}, '{}'],
    [{ one: 1, two: 'Two' }, '{"one":1,"two":"Two"}'],
    [{ b: '2', a: '1' }, '{"a":"1","b":"2"}'],
    [
      {
        auth: {
          success: true,
          mxid: '@john.doe:example.com',
          profile: {
            display_name: 'John Doe',
            three_pids: [
              { medium: 'email', address: 'john.doe@example.org' },
              { medium: 'msisdn', address: '123456789' },
            ],
          },
        },
      },
      '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    ],
    [{ a: '日本語' }, '{"a":"日本語"}'],
    [{ 本: 2, 日: 1 }, '{"日":1,"本":2}'],
    [JSON.parse('{"a": "\\u65E5"}'), '{"a":"日"}'],
    [{ a: null }, '{"a":null}'],
    [{ a: -0, b: 1e10 }, '{"a":0,"b":10000000000}'],
  ]
  for (const [input, expected] of examples) {
    it(`encodes ${JSON.stringify(input)} as the spec's example`, () => {
      assert.equal(canonicalJson(input), expected)
    })
  }

  it('escapes control characters with the short forms and lower-case \\u00XX', () => {
    assert.equal(canonicalJson({ a: '\b\t\n\f\r"\\\u0000\u001f' }), '{"a":"\\b\\t\\n\\f\\r\\"\\\\\\u0000\\u001f"}')
  })

  it('refuses floats and integers outside [-(2**53)+1, 2**53-1]', () => {
    assert.throws(() => canonicalJson({ a: 1.5 }), CanonicalJsonError)
    assert.throws(() => canonicalJson({ a: 2 ** 53 }), CanonicalJsonError)
    assert.throws(() => canonicalJson({ a: -(2 ** 53) }), CanonicalJsonError)
    assert.equal(canonicalJson({ a: 2 ** 53 - 1 }), '{"a":9007199254740991}')
  })

  it('sorts keys by code point, placing astral characters after U+FFFF', () => {
    assert.ok(compareCodePoints('\uffff', '\u{10000}') < 0)
    assert.equal(canonicalJson({ '\u{1F600}': 1, '\uFB01': 2 }), '{"\uFB01":2,"\u{1F600}":1}')
  })
})
