// Glob-style matching (appendices, "Glob-style matching") as push rules use it: whole values, and
// content.body substrings bounded by word boundaries (client-server API, "Conditions", event_match).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { compileGlob, glob, globMatches } from '../../src/push/glob.ts'

describe('glob: whole-value matching', () => {
  it('matches the spec example lunc?* against topics case-insensitively', () => {
    assert.equal(glob('lunc?*', 'Lunch plans'), true)
    assert.equal(glob('lunc?*', 'LUNCH'), true, '* may match zero characters')
    assert.equal(glob('lunc?*', ' lunch'), false, 'a leading space is not matched')
    assert.equal(glob('lunc?*', 'lunc'), false, '? must match a character')
  })

  it('matches literals exactly, and only the entire value', () => {
    assert.equal(glob('m.notice', 'm.notice'), true)
    assert.equal(glob('m.notice', 'M.NOTICE'), true)
    assert.equal(glob('m.notice', 'm.notices'), false)
    assert.equal(glob('m.notice', 'xm.notice'), false)
    assert.equal(glob('m.notice', 'mxnotice'), false, 'a dot is a literal, not a regex wildcard')
  })

  it('treats * as zero or more characters and ? as exactly one, anywhere', () => {
    assert.equal(glob('*', ''), true)
    assert.equal(glob('?', ''), false)
    assert.equal(glob('a*b*c', 'abc'), true)
    assert.equal(glob('a*b*c', 'aXXbYYc'), true)
    assert.equal(glob('a*b*c', 'aXXbYY'), false)
    assert.equal(glob('a??d', 'abcd'), true)
    assert.equal(glob('a??d', 'abd'), false)
    assert.equal(glob('', ''), true)
    assert.equal(glob('', 'x'), false)
  })

  it('treats regex metacharacters in the pattern as literals', () => {
    assert.equal(glob('(a|b)+[c]', '(a|b)+[c]'), true)
    assert.equal(glob('(a|b)+[c]', 'a'), false)
    assert.equal(glob('^$\\', '^$\\'), true)
  })

  it('counts a non-BMP character as one character for ?', () => {
    assert.equal(glob('a?b', 'a😀b'), true)
  })

  it('answers on a 20 000-character text with a pattern that makes backtracking matchers explode', () => {
    const text = 'a'.repeat(20000)
    assert.equal(glob('*a*a*a*a*a*a*a*a*b', text), false)
    assert.equal(glob('*a*a*a*a*a*a*a*a*b', text, true), false)
  })
})

describe('glob: content.body word-boundary matching', () => {
  it('matches the spec example ex*ple anywhere at word boundaries', () => {
    assert.equal(glob('ex*ple', 'An example event.', true), true)
    assert.equal(glob('ex*ple', 'exple', true), true, 'at the start and end of the body')
    assert.equal(glob('ex*ple', 'An exciting triple-whammy', true), true, 'across words, - separates words')
  })

  it('does not match inside a word', () => {
    assert.equal(glob('cake', 'cakes are great', true), false)
    assert.equal(glob('cake', 'pancake', true), false)
    assert.equal(glob('cake', 'I like cake.', true), true)
    assert.equal(glob('cake', 'CAKE!', true), true)
    assert.equal(glob('cake', 'cake_time', true), false, '_ is a word character')
    assert.equal(glob('cake', 'cake2', true), false, 'digits are word characters')
  })

  it('matches patterns that start or end with non-word characters at a boundary', () => {
    assert.equal(glob('@room', 'hello @room!', true), true)
    assert.equal(glob('@alice:example.org', 'hi @alice:example.org, how are you', true), true)
  })

  it('matches literally (no wildcards) when compiled as a literal', () => {
    const literal = compileGlob('Al*ce', true)
    assert.equal(globMatches(literal, 'hey al*ce', true), true)
    assert.equal(globMatches(literal, 'hey alice', true), false)
  })
})
