// Glob-style matching (appendices, "Glob-style matching"): `*` matches zero or more characters, `?` exactly
// one. Push rules match case-insensitively, either the whole value or (for content.body) any substring that
// starts and ends at a word boundary.
//
// Patterns come from users and values from any sender, so matching must not be able to stall the server:
// instead of a backtracking regular expression (exponential or high-degree polynomial on patterns such as
// `*a*a*a*b`), the pattern runs as an automaton over the text in O(text × pattern) steps.

const LITERAL = 0
const ANY = 1
const STAR = 2

export interface CompiledGlob {
  /** Lower-cased code points of the pattern (unused for wildcards). */
  chars: string[]
  kinds: Uint8Array
}

const cache = new Map<string, CompiledGlob>()
const CACHE_LIMIT = 2000

/** Compiles a pattern (or, with `literal`, a plain string such as a display name) once; cached. */
export function compileGlob(pattern: string, literal = false): CompiledGlob {
  const cacheKey = (literal ? 'L' : 'G') + pattern
  const cached = cache.get(cacheKey)
  if (cached) return cached
  const chars: string[] = []
  const kinds: number[] = []
  for (const ch of pattern.toLowerCase()) {
    const kind = literal ? LITERAL : ch === '*' ? STAR : ch === '?' ? ANY : LITERAL
    // Consecutive stars are one star.
    if (kind === STAR && kinds[kinds.length - 1] === STAR) continue
    chars.push(ch)
    kinds.push(kind)
  }
  const compiled = { chars, kinds: Uint8Array.from(kinds) }
  if (cache.size >= CACHE_LIMIT) cache.clear()
  cache.set(cacheKey, compiled)
  return compiled
}

/** Word characters for content.body boundaries: [A-Za-z0-9_] (the text is lower-cased already). */
function isWordChar(ch: string | undefined): boolean {
  if (ch === undefined || ch.length !== 1) return false
  const c = ch.charCodeAt(0)
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || (c >= 65 && c <= 90)
}

/**
 * Whether `glob` matches `value`: the whole value (`words` false), or any substring of it that starts and
 * ends at a word boundary (`words` true: the start or end of the value, or a character outside
 * [A-Za-z0-9_]).
 */
export function globMatches(glob: CompiledGlob, value: string, words: boolean): boolean {
  const text = Array.from(value.toLowerCase())
  const { chars, kinds } = glob
  const m = kinds.length
  let active = new Uint8Array(m + 1)
  let next = new Uint8Array(m + 1)
  for (let pos = 0; ; pos++) {
    // A match may start here: at the beginning only, or (for words) at every word boundary.
    if (pos === 0 || (words && !isWordChar(text[pos - 1]))) active[0] = 1
    // A star may also match nothing.
    for (let k = 0; k < m; k++) if (active[k] && kinds[k] === STAR) active[k + 1] = 1
    if (active[m] && (pos === text.length || (words && !isWordChar(text[pos])))) return true
    if (pos === text.length) return false
    const ch = text[pos]
    next.fill(0)
    let any = false
    for (let k = 0; k < m; k++) {
      if (!active[k]) continue
      const kind = kinds[k]
      if (kind === STAR) {
        next[k] = 1
        any = true
      } else if (kind === ANY || chars[k] === ch) {
        next[k + 1] = 1
        any = true
      }
    }
    // A whole-value match that has lost every state cannot recover.
    if (!any && !words) return false
    const swap = active
    active = next
    next = swap
  }
}

/** Convenience: compile and match in one call. */
export function glob(pattern: string, value: string, words = false): boolean {
  return globMatches(compileGlob(pattern), value, words)
}
