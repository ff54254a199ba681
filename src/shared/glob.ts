// Glob-style matching (appendices, "Glob-style matching"): `*` matches zero or more characters, `?` exactly
// one. Push rules match case-insensitively with both wildcards, either the whole value or (for content.body)
// any substring that starts and ends at a word boundary; filters match event types case-sensitively with
// `*` alone (client-server API, "Filtering").
//
// Patterns come from users and values from any sender, so matching must not be able to stall the server. A
// backtracking regular expression is exponential or high-degree polynomial on patterns such as `*a*a*a*b`;
// here the pattern is a non-deterministic automaton whose states are the bits of 32-bit words (Shift-And):
// each character of the text costs one step per 32 pattern characters, whatever the pattern, so a match
// costs at most text × ⌈(pattern + 1) / 32⌉ word operations (`cost`), and most patterns fit in one word.

/** How a pattern reads. Push rules: the defaults. Filters: `{ questionMark: false, caseInsensitive: false }`. */
export interface GlobOptions {
  /** `?` matches exactly one character (false: it is a literal). Default true. */
  questionMark?: boolean
  /** Compare lower-cased; the text must then be lower-cased by the caller (`lowerForGlob`). Default true. */
  caseInsensitive?: boolean
  /** Every character is a literal (a display name matched as a pattern). Default false. */
  literal?: boolean
}

export interface CompiledGlob {
  /** Word count of the state vector: states 0..m for a pattern of m elements (stars collapsed). */
  readonly words: number
  readonly elements: number
  /** Bit k: element k is a star. */
  readonly star: Uint32Array
  /** Bit k: element k matches any one character (`?`). */
  readonly anyChar: Uint32Array
  /** Per code point of the pattern: the elements that match it (its literals and every `?`). */
  readonly byChar: Map<number, Uint32Array>
  /** The same for ASCII characters, indexed by code (word 0 only: what one-word patterns read). */
  readonly ascii: Uint32Array
  /** The pattern itself when it has no wildcard: whole-value matching is then a comparison. */
  readonly exact: string | null
  readonly caseInsensitive: boolean
}

const STAR = 42 // '*'
const QUESTION = 63 // '?'

/** Compiles a pattern; compile once and match many times. */
export function compileGlob(pattern: string, options: GlobOptions = {}): CompiledGlob {
  const caseInsensitive = options.caseInsensitive ?? true
  const questionMark = options.questionMark ?? true
  const literal = options.literal ?? false
  const source = caseInsensitive ? pattern.toLowerCase() : pattern
  // Elements: -1 for a star, -2 for `?`, otherwise the code point. Consecutive stars are one star.
  const elements: number[] = []
  let wild = false
  for (let i = 0; i < source.length; ) {
    const c = source.codePointAt(i) as number
    i += c > 0xffff ? 2 : 1
    if (!literal && c === STAR) {
      wild = true
      if (elements[elements.length - 1] !== -1) elements.push(-1)
    } else if (!literal && questionMark && c === QUESTION) {
      wild = true
      elements.push(-2)
    } else elements.push(c)
  }
  const m = elements.length
  const words = (m >>> 5) + 1
  const star = new Uint32Array(words)
  const anyChar = new Uint32Array(words)
  const byChar = new Map<number, Uint32Array>()
  for (let k = 0; k < m; k++) {
    const e = elements[k] as number
    const bit = 1 << (k & 31)
    if (e === -1) star[k >>> 5] = ((star[k >>> 5] as number) | bit) >>> 0
    else if (e === -2) anyChar[k >>> 5] = ((anyChar[k >>> 5] as number) | bit) >>> 0
    else {
      let mask = byChar.get(e)
      if (!mask) byChar.set(e, (mask = new Uint32Array(words)))
      mask[k >>> 5] = ((mask[k >>> 5] as number) | bit) >>> 0
    }
  }
  // `?` matches every character: literal masks carry those bits too, so a step reads one mask.
  for (const mask of byChar.values()) for (let w = 0; w < words; w++) mask[w] = ((mask[w] as number) | (anyChar[w] as number)) >>> 0
  const ascii = new Uint32Array(128).fill(anyChar[0] as number)
  for (const [c, mask] of byChar) if (c < 128) ascii[c] = mask[0] as number
  return { words, elements: m, star, anyChar, byChar, ascii, exact: wild ? null : source, caseInsensitive }
}

/** The text as a case-insensitive glob compares it (lower-case once, match against many patterns). */
export function lowerForGlob(text: string): string {
  return text.toLowerCase()
}

/** Word characters for content.body boundaries: [A-Za-z0-9_]. */
function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || (c >= 65 && c <= 90)
}

/** The work a match of `glob` against a text of `length` code units may take, in word steps. */
export function globCost(glob: CompiledGlob, length: number): number {
  return length * glob.words
}

/**
 * Whether `glob` matches `text`: the whole text (`words` false), or any substring of it that starts and ends
 * at a word boundary (`words` true: the start or end of the text, or a character outside [A-Za-z0-9_]).
 * A case-insensitive glob expects the text lower-cased already (`lowerForGlob`), so that a text matched
 * against many patterns is lower-cased once.
 */
export function globMatches(glob: CompiledGlob, text: string, words = false): boolean {
  if (!words && glob.exact !== null) return text === glob.exact
  return glob.words === 1 ? matchOneWord(glob, text, words) : matchManyWords(glob, text, words)
}

/** Patterns of up to 31 elements: the state vector is one number. */
function matchOneWord(glob: CompiledGlob, text: string, words: boolean): boolean {
  const star = glob.star[0] as number
  const anyChar = glob.anyChar[0] as number
  const accept = 2 ** glob.elements // bit m (m ≤ 31)
  const { byChar, ascii } = glob
  let state = 0
  let previousIsWord = false
  for (let i = 0; ; ) {
    // A match may start here: at the beginning only, or (for words) at every word boundary.
    if (i === 0 || (words && !previousIsWord)) state |= 1
    // A star may also match nothing (stars are never adjacent, so one step closes the set).
    state = (state | ((state & star) << 1)) >>> 0
    const c = i < text.length ? (text.codePointAt(i) as number) : -1
    if ((state & accept) !== 0 && (c === -1 || (words && !isWordChar(c)))) return true
    if (c === -1) return false
    const mask = c < 128 ? (ascii[c] as number) : (byChar.get(c)?.[0] ?? anyChar)
    state = ((((state & mask) << 1) | (state & star)) >>> 0)
    // A whole-value match that has lost every state cannot recover.
    if (state === 0 && !words) return false
    previousIsWord = isWordChar(c)
    i += c > 0xffff ? 2 : 1
  }
}

/** Longer patterns: the same steps over an array of words, carrying bits from one word to the next. */
function matchManyWords(glob: CompiledGlob, text: string, words: boolean): boolean {
  const { star, anyChar, byChar } = glob
  const n = glob.words
  const acceptWord = glob.elements >>> 5
  const acceptBit = (1 << (glob.elements & 31)) >>> 0
  let state = new Uint32Array(n)
  let next = new Uint32Array(n)
  let previousIsWord = false
  for (let i = 0; ; ) {
    if (i === 0 || (words && !previousIsWord)) state[0] = ((state[0] as number) | 1) >>> 0
    let carry = 0
    for (let w = 0; w < n; w++) {
      const s = state[w] as number
      const stars = s & (star[w] as number)
      state[w] = (s | (stars << 1) | carry) >>> 0
      carry = stars >>> 31
    }
    const c = i < text.length ? (text.codePointAt(i) as number) : -1
    if (((state[acceptWord] as number) & acceptBit) !== 0 && (c === -1 || (words && !isWordChar(c)))) return true
    if (c === -1) return false
    const mask = byChar.get(c) ?? anyChar
    carry = 0
    let alive = 0
    for (let w = 0; w < n; w++) {
      const s = state[w] as number
      const moved = s & (mask[w] as number)
      const v = ((moved << 1) | carry | (s & (star[w] as number))) >>> 0
      carry = moved >>> 31
      next[w] = v
      alive |= v
    }
    if (alive === 0 && !words) return false
    const swap = state
    state = next
    next = swap
    previousIsWord = isWordChar(c)
    i += c > 0xffff ? 2 : 1
  }
}

/** Compiles and matches in one call (tests, and one-off matches): lower-cases both for a case-insensitive glob. */
export function glob(pattern: string, value: string, words = false, options: GlobOptions = {}): boolean {
  const compiled = compileGlob(pattern, options)
  return globMatches(compiled, compiled.caseInsensitive ? lowerForGlob(value) : value, words)
}
