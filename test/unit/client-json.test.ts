// The strict reader of client JSON (shared/client-json.ts): UTF-8, well-formed Unicode, depth, value count.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MAX_JSON_DEPTH, parseClientJsonBytes, parseClientJsonText, wellFormedJson } from '../../src/shared/client-json.ts'
import { MatrixError } from '../../src/shared/errors.ts'

function refused(run: () => unknown, errcode: string, status = 400): void {
  assert.throws(run, (err: unknown) => err instanceof MatrixError && err.errcode === errcode && err.status === status)
}

describe('parseClientJsonText', () => {
  it('refuses lone surrogates, high or low, in values and keys, at any depth', () => {
    for (const text of ['"\\ud800"', '"\\uDFFF"', '["a","b\\udc00c"]', '{"\\ud83d":1}', '{"a":{"b":["\\ude00\\ud83d"]}}', '"\\ud83d\\ud83d"']) {
      refused(() => parseClientJsonText(text), 'M_BAD_JSON')
    }
    // Unescaped, a lone surrogate can only arrive in a string that is already decoded (a query parameter).
    refused(() => parseClientJsonText('"\ud800"'), 'M_BAD_JSON')
  })

  it('accepts surrogate pairs, escaped or not, and an escaped backslash before "ud800"', () => {
    assert.deepEqual(parseClientJsonText('{"\\ud83d\\ude00":"😀","t":"\\\\ud800"}'), { '😀': '😀', t: '\\ud800' })
    assert.equal(parseClientJsonText('"\\u00e9\\uE000"'), '\u00e9\ue000')
  })

  it(`counts nesting outside strings: ${MAX_JSON_DEPTH} levels pass, one more is M_BAD_JSON`, () => {
    const nested = (n: number) => '['.repeat(n) + ']'.repeat(n)
    assert.ok(parseClientJsonText(nested(MAX_JSON_DEPTH)))
    refused(() => parseClientJsonText(nested(MAX_JSON_DEPTH + 1)), 'M_BAD_JSON')
    refused(() => parseClientJsonText(`{"a":${nested(MAX_JSON_DEPTH)}}`), 'M_BAD_JSON')
    // Brackets inside strings (also after an escaped quote) are text.
    assert.equal(parseClientJsonText(`"\\"${'['.repeat(5000)}"`), `"${'['.repeat(5000)}`)
  })

  it('refuses more members and elements than maxValues with 413 M_TOO_LARGE, counting none inside strings', () => {
    const list = (n: number) => `[${Array.from({ length: n }, () => '0').join(',')}]`
    assert.equal((parseClientJsonText(list(1000), { maxValues: 1000 }) as unknown[]).length, 1000)
    refused(() => parseClientJsonText(list(1001), { maxValues: 1000 }), 'M_TOO_LARGE', 413)
    assert.ok(parseClientJsonText(`["${','.repeat(5000)}"]`, { maxValues: 1000 }))
  })

  it('answers text that is not JSON with M_NOT_JSON, or the error the caller chose', () => {
    refused(() => parseClientJsonText('{"a":'), 'M_NOT_JSON')
    refused(() => parseClientJsonText('nope', { notJson: () => new MatrixError('M_BAD_JSON', 'bad filter') }), 'M_BAD_JSON')
  })
})

describe('parseClientJsonBytes', () => {
  it('refuses bytes that are not UTF-8 (invalid, overlong, encoded surrogates, beyond U+10FFFF) with M_NOT_JSON', () => {
    for (const bad of [[0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]) {
      refused(() => parseClientJsonBytes(Buffer.from([0x22, ...bad, 0x22])), 'M_NOT_JSON')
    }
    assert.equal(parseClientJsonBytes(Buffer.from('"é😀"')), 'é😀')
  })
})

describe('wellFormedJson', () => {
  it('looks at keys as well as values', () => {
    assert.equal(wellFormedJson({ a: ['b', { c: 1 }] }), true)
    assert.equal(wellFormedJson({ a: [{ ['\udc00']: 1 }] }), false)
    assert.equal(wellFormedJson(['\ud800']), false)
  })
})
