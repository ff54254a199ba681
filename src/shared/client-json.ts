// Reading JSON that a client sent (request bodies, the filter query parameter, pagination tokens). What
// JSON.parse lets through but would hurt later is refused here, before anything else touches the value:
// - bytes that are not UTF-8: Buffer#toString would replace them with U+FFFD and store a text the client
//   never sent (Synapse decodes strictly and answers M_NOT_JSON);
// - strings or keys holding a lone UTF-16 surrogate ("\ud800"): JSON.parse accepts the escape, but
//   PostgreSQL refuses it in jsonb, so a stored event holding one makes every read that casts it fail for
//   every member of the room; canonical JSON (UTF-8) cannot encode it either;
// - nesting deeper than any client needs: every recursive walk (canonical JSON, validation, push rules)
//   would overflow the stack on it and answer 500;
// - more values than a request needs: parsing and validating them holds the event loop for every client.
import { MatrixError } from './errors.ts'

/**
 * The deepest nesting of objects and arrays accepted in client JSON. Python's json, which Synapse parses
 * and encodes with, stops at its default recursion limit of 1000, so no client that works with Synapse
 * sends deeper; every recursive walk here is far from overflowing at this depth.
 */
export const MAX_JSON_DEPTH = 1000

/**
 * The most members and elements (values inside objects and arrays) client JSON may hold unless configured
 * otherwise (http.max_json_values for request bodies). Parsing and validating costs event-loop time per
 * value, about a microsecond each, so a 10 MB body of a million values would stall every other request for
 * seconds; real requests (a key backup upload, to-device messages to every device of a large room, a
 * keys query for 10,000 users) hold tens of thousands at most.
 */
export const DEFAULT_MAX_JSON_VALUES = 100_000

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export interface ClientJsonOptions {
  /** The error for text that is not JSON at all (default: M_NOT_JSON "Content not JSON."). */
  notJson?: () => MatrixError
  /** The most members and elements (default DEFAULT_MAX_JSON_VALUES); beyond, 413 M_TOO_LARGE. */
  maxValues?: number
}

const notJsonDefault = () => new MatrixError('M_NOT_JSON', 'Content not JSON.')

/** Parses a request body's bytes: strict UTF-8, then parseClientJsonText. */
export function parseClientJsonBytes(bytes: Uint8Array, options: ClientJsonOptions = {}): unknown {
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    throw new MatrixError('M_NOT_JSON', 'Content not JSON: the body is not valid UTF-8.')
  }
  return parseClientJsonText(text, options)
}

/**
 * Parses client JSON text, refusing nesting deeper than MAX_JSON_DEPTH and strings or object keys that are
 * not well-formed Unicode (M_BAD_JSON), more than options.maxValues values (M_TOO_LARGE), and text that is
 * not JSON (options.notJson, M_NOT_JSON by default).
 */
export function parseClientJsonText(text: string, options: ClientJsonOptions = {}): unknown {
  // A query parameter arrives as a string already; a lone surrogate in it is as bad as an escaped one.
  if (!text.isWellFormed()) throw illFormed()
  const { surrogateEscape } = scan(text, options.maxValues ?? DEFAULT_MAX_JSON_VALUES)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw (options.notJson ?? notJsonDefault)()
  }
  // Only an escape can make a lone surrogate out of well-formed text, so most bodies skip the walk.
  if (surrogateEscape && !wellFormedJson(value)) throw illFormed()
  return value
}

function illFormed(): MatrixError {
  return new MatrixError('M_BAD_JSON', 'JSON strings and keys must be well-formed Unicode (this one holds a lone UTF-16 surrogate).')
}

/**
 * One linear pass over the text, before JSON.parse builds anything: the nesting depth (brackets outside
 * strings), the number of members and elements (commas and openings outside strings, one per value inside
 * an object or array, give or take one per container) and whether any string holds a \uD800–\uDFFF escape.
 * Text that is not JSON may pass or fail here; JSON.parse decides that.
 */
function scan(text: string, maxValues: number): { surrogateEscape: boolean } {
  let depth = 0
  let values = 0
  let inString = false
  let surrogateEscape = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) {
        // \uDXXX with X in 8–F: a surrogate escape (| 0x20 lower-cases the hex letters, keeps the digits).
        if (text.charCodeAt(i + 1) === 0x75 && (text.charCodeAt(i + 2) | 0x20) === 0x64) {
          const x = text.charCodeAt(i + 3) | 0x20
          if (x === 0x38 || x === 0x39 || (x >= 0x61 && x <= 0x66)) surrogateEscape = true
        }
        i++
      } else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x2c || c === 0x7b || c === 0x5b) {
      if (++values > maxValues) throw new MatrixError('M_TOO_LARGE', `JSON holds more than ${maxValues} values.`, 413)
      if (c !== 0x2c && ++depth > MAX_JSON_DEPTH) throw new MatrixError('M_BAD_JSON', `JSON nested deeper than ${MAX_JSON_DEPTH} levels.`)
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return { surrogateEscape }
}

/** Whether every string and object key in a parsed JSON value is well-formed Unicode (no lone surrogate). */
export function wellFormedJson(value: unknown): boolean {
  if (typeof value === 'string') return value.isWellFormed()
  if (typeof value !== 'object' || value === null) return true
  if (Array.isArray(value)) return value.every(wellFormedJson)
  for (const [key, item] of Object.entries(value)) {
    if (!key.isWellFormed() || !wellFormedJson(item)) return false
  }
  return true
}
