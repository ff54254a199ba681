// Appendices "Canonical JSON" as rooms/v1-canonical-json and v6-canonical-json apply it to events.
// Rooms v6+ enforce it strictly. Rooms v1–v5 do not, so their events may hold floats (the spec's "floaty
// power levels") and these must still hash and verify. Synapse encodes such floats with Python's repr();
// this module does the same, so hashes and signatures of old events match Synapse's.
import { canonicalJsonBytes, compareCodePoints, CanonicalJsonError } from '../canonical-json.ts'
import type { RoomVersion } from '../room-versions.ts'

/**
 * The canonical JSON bytes an event is hashed and signed over in this room version. Strict versions (v6+)
 * throw CanonicalJsonError for floats and out-of-range integers; v1–v5 encode them as Synapse does.
 *
 * Limits that no encoder can lift: JSON.parse already turned `1.0` into `1` and rounded integers beyond
 * 2^53, so an old event carrying those will not hash as it did on its origin server. Whole numbers from
 * 1e21 are written as Python floats ("1e+21"), smaller ones as integers: the likelier reading of the text.
 * Strings are written as canonical-json.ts writes them (the same escapes as Python's json).
 */
export function eventJsonBytes(value: unknown, version: RoomVersion): Buffer {
  return version.strictCanonicalJson ? canonicalJsonBytes(value) : lenientJsonBytes(value)
}

/**
 * Canonical JSON as Synapse writes it for anything that may hold what strict canonical JSON refuses:
 * floats as Python's repr(). Strict-valid JSON encodes to the same bytes as canonicalJsonBytes.
 */
export function lenientJsonBytes(value: unknown): Buffer {
  const out: string[] = []
  encodeLenient(value, out)
  return Buffer.from(out.join(''), 'utf8')
}

/** Python's repr() of a finite float, which is how Synapse's canonicaljson writes non-integers. */
export function pythonFloatRepr(x: number): string {
  if (!Number.isFinite(x)) throw new CanonicalJsonError(`cannot encode ${x}`)
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0'
  const sign = x < 0 ? '-' : ''
  // toExponential() with no argument gives the shortest round-trip digits, as Python's repr does.
  const [mantissa, exponent] = Math.abs(x).toExponential().split('e') as [string, string]
  const digits = mantissa.replace('.', '')
  const exp10 = Number(exponent)
  const decpt = exp10 + 1 // value = 0.<digits> × 10^decpt
  if (decpt <= -4 || decpt > 16) {
    const rest = digits.length > 1 ? `.${digits.slice(1)}` : ''
    const e = Math.abs(exp10)
    return `${sign}${digits[0]}${rest}e${exp10 < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`
}

function encodeLenient(value: unknown, out: string[]): void {
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value))
      return
    case 'boolean':
      out.push(value ? 'true' : 'false')
      return
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`cannot encode ${value}`)
      if (Number.isSafeInteger(value)) out.push(Object.is(value, -0) ? '0' : String(value))
      // Whole numbers from 1e21 up were most likely floats in the text (JavaScript clients write them as
      // "1e+21"), which Python keeps as floats; below that, integer literals, which Python writes in full.
      else if (!Number.isInteger(value) || value >= 1e21 || value <= -1e21) out.push(pythonFloatRepr(value))
      else out.push(BigInt(value).toString())
      return
    case 'object': {
      if (value === null) {
        out.push('null')
        return
      }
      if (Array.isArray(value)) {
        out.push('[')
        value.forEach((item, i) => {
          if (i > 0) out.push(',')
          encodeLenient(item, out)
        })
        out.push(']')
        return
      }
      const record = value as Record<string, unknown>
      const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort(compareCodePoints)
      out.push('{')
      keys.forEach((key, i) => {
        if (i > 0) out.push(',')
        out.push(JSON.stringify(key), ':')
        encodeLenient(record[key], out)
      })
      out.push('}')
      return
    }
    default:
      throw new CanonicalJsonError(`cannot encode a ${typeof value}`)
  }
}
