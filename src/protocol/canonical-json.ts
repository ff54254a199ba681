// Canonical JSON (appendices, "Canonical JSON"): shortest UTF-8 encoding, keys sorted by code point,
// integers only in [-(2**53)+1, 2**53-1].

export class CanonicalJsonError extends Error {}

const MAX_SAFE = Number.MAX_SAFE_INTEGER

/** Compares two strings by Unicode code point (JavaScript's default sort compares UTF-16 code units). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    // Surrogates (0xD800–0xDFFF) encode code points above 0xFFFF, so they sort after 0xE000–0xFFFF.
    const xs = x >= 0xd800 && x <= 0xdfff
    const ys = y >= 0xd800 && y <= 0xdfff
    if (xs !== ys) return xs ? 1 : -1
    return x - y
  }
  return a.length - b.length
}

function encodeValue(value: unknown, out: string[]): void {
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value))
      return
    case 'boolean':
      out.push(value ? 'true' : 'false')
      return
    case 'number':
      if (!Number.isInteger(value)) throw new CanonicalJsonError(`non-integer number ${value}`)
      if (value > MAX_SAFE || value < -MAX_SAFE) throw new CanonicalJsonError(`integer ${value} out of range`)
      out.push(Object.is(value, -0) ? '0' : String(value))
      return
    case 'object': {
      if (value === null) {
        out.push('null')
        return
      }
      if (Array.isArray(value)) {
        out.push('[')
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out.push(',')
          encodeValue(value[i], out)
        }
        out.push(']')
        return
      }
      const record = value as Record<string, unknown>
      const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort(compareCodePoints)
      out.push('{')
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string
        if (i > 0) out.push(',')
        out.push(JSON.stringify(key), ':')
        encodeValue(record[key], out)
      }
      out.push('}')
      return
    }
    default:
      throw new CanonicalJsonError(`cannot encode a ${typeof value}`)
  }
}

/** The canonical JSON text of a value; throws CanonicalJsonError for floats, out-of-range integers and non-JSON values. */
export function canonicalJson(value: unknown): string {
  const out: string[] = []
  encodeValue(value, out)
  return out.join('')
}

/** The canonical JSON bytes of a value (UTF-8). */
export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8')
}
