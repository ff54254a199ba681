// Glob-style matching (appendices, "Glob-style matching") as push rules use it: whole values, and
// content.body substrings bounded by word boundaries (client-server API, "Conditions", event_match).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { compileGlob, glob, globMatches } from '../../src/shared/glob.ts'

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
    const literal = compileGlob('Al*ce', { literal: true })
    assert.equal(globMatches(literal, 'hey al*ce', true), true)
    assert.equal(globMatches(literal, 'hey alice', true), false)
  })
})

// A slow matcher that is plainly right: from every possible start, the set of pattern prefixes that match
// the text read so far, one array of booleans per position (no bit tricks, no collapsed stars).
function reference(pattern: string, value: string, words: boolean, options: { questionMark?: boolean; caseInsensitive?: boolean } = {}): boolean {
  const fold = (s: string) => (options.caseInsensitive ?? true ? s.toLowerCase() : s)
  const p = Array.from(fold(pattern))
  const t = Array.from(fold(value))
  const questionMark = options.questionMark ?? true
  const word = (ch: string | undefined) => ch !== undefined && /^[A-Za-z0-9_]$/.test(ch)
  const close = (set: boolean[]) => {
    for (let i = 0; i < p.length; i++) if (set[i] && p[i] === '*') set[i + 1] = true
  }
  for (let start = 0; start <= t.length; start++) {
    if (start > 0 && (!words || word(t[start - 1]))) continue
    let set = new Array<boolean>(p.length + 1).fill(false)
    set[0] = true
    close(set)
    for (let j = start; ; j++) {
      const atEnd = j === t.length
      if (set[p.length] && (atEnd || (words && !word(t[j])))) return true
      if (atEnd) break
      const next = new Array<boolean>(p.length + 1).fill(false)
      for (let i = 0; i < p.length; i++) {
        if (!set[i]) continue
        if (p[i] === '*') next[i] = true
        else if ((questionMark && p[i] === '?') || p[i] === t[j]) next[i + 1] = true
      }
      close(next)
      set = next
    }
  }
  return false
}

function seeded(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed / 2147483648
  }
}

function randomString(random: () => number, alphabet: string[], max: number): string {
  const length = Math.floor(random() * (max + 1))
  let out = ''
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(random() * alphabet.length)]
  return out
}

describe('glob: against a slow reference matcher on random inputs', () => {
  const textAlphabet = ['a', 'b', 'A', ' ', '-', '_', 'é', '😀', '?', '*']
  const patternAlphabet = ['a', 'b', 'A', '*', '?', ' ', '-', 'é', '😀']

  it('agrees on short patterns (one state word), whole-value and word-boundary, 4 000 cases', () => {
    const random = seeded(7)
    for (let n = 0; n < 4000; n++) {
      const pattern = randomString(random, patternAlphabet, 10)
      const text = randomString(random, textAlphabet, 24)
      for (const words of [false, true]) {
        assert.equal(glob(pattern, text, words), reference(pattern, text, words), `${JSON.stringify(pattern)} ~ ${JSON.stringify(text)} words=${words}`)
      }
    }
  })

  it('agrees on patterns of more than 31 elements (several state words), 600 cases', () => {
    const random = seeded(11)
    for (let n = 0; n < 600; n++) {
      // Mostly literals with a few wildcards, and texts built around the pattern so that matches happen.
      const pattern = randomString(random, ['a', 'a', 'b', 'b', ' ', '*', '?'], 90)
      const filled = pattern.replace(/[*?]/g, () => randomString(random, ['a', 'b'], 2) || 'a')
      const text = random() < 0.5 ? filled : randomString(random, ['a', 'b', ' '], 100)
      for (const words of [false, true]) {
        assert.equal(glob(pattern, text, words), reference(pattern, text, words), `${JSON.stringify(pattern)} ~ ${JSON.stringify(text)} words=${words}`)
      }
    }
  })

  it('agrees with filter semantics: case-sensitive, ? a literal, 2 000 cases', () => {
    const random = seeded(13)
    const options = { questionMark: false, caseInsensitive: false }
    for (let n = 0; n < 2000; n++) {
      const pattern = randomString(random, ['m', '.', 'M', '*', '?', 'x'], 10)
      const text = randomString(random, ['m', '.', 'M', '?', 'x'], 16)
      assert.equal(glob(pattern, text, false, options), reference(pattern, text, false, options), `${JSON.stringify(pattern)} ~ ${JSON.stringify(text)}`)
    }
  })
})

describe('glob: adversarial patterns', () => {
  const adversarial = [
    '*a*a*a*a*a*a*a*a*b',
    `${'*a'.repeat(127)}*b`,
    `${'a?'.repeat(120)}b`,
    `*${'a'.repeat(200)}b*`,
    `${'?*'.repeat(100)}c`,
  ]
  for (const pattern of adversarial) {
    it(`answers as the reference does for ${JSON.stringify(pattern.slice(0, 24))}… (${pattern.length} characters) on long texts`, () => {
      for (const text of ['a'.repeat(300), `${'a'.repeat(299)}b`, `${'a '.repeat(150)}c`]) {
        for (const words of [false, true]) assert.equal(glob(pattern, text, words), reference(pattern, text, words))
      }
      // Long texts: no reference (it is quadratic), but an answer, whatever the pattern.
      assert.equal(glob(pattern, 'a'.repeat(60000), true), false)
    })
  }

  it('treats ? as a literal and compares case-sensitively with the filter options', () => {
    const options = { questionMark: false, caseInsensitive: false }
    assert.equal(glob('m.room.*', 'm.room.message', false, options), true)
    assert.equal(glob('m.room.*', 'M.ROOM.MESSAGE', false, options), false)
    assert.equal(glob('m.?', 'm.x', false, options), false)
    assert.equal(glob('m.?', 'm.?', false, options), true)
  })
})
