// What a configuration value must be, said in words an operator can act on ("must be at least 16
// characters", "must be null or a string matching ^https?://") instead of the validator's own messages
// ("Expected union value").
import type { TSchema } from '@sinclair/typebox'

type Kind = 'null' | 'boolean' | 'integer' | 'number' | 'string' | 'array' | 'object'

function kindOf(value: unknown): Kind {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number'
  return typeof value as Kind
}

const fits = (schemaType: unknown, kind: Kind) => schemaType === kind || (schemaType === 'number' && kind === 'integer')

/** "a string of at least 16 characters", "an integer from 1 to 65535", "null", `"fs"`. */
function expectation(schema: TSchema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const)
  switch (schema.type) {
    case 'null':
      return 'null'
    case 'string': {
      const parts = [
        schema.minLength !== undefined && schema.minLength > 1 ? `of at least ${schema.minLength} characters` : '',
        schema.maxLength !== undefined ? `of at most ${schema.maxLength} characters` : '',
        schema.pattern !== undefined ? `matching ${schema.pattern}` : '',
      ]
      return [schema.minLength === 1 ? 'a non-empty string' : 'a string', ...parts.filter(Boolean)].join(' ')
    }
    case 'integer':
    case 'number': {
      const noun = schema.type === 'integer' ? 'an integer' : 'a number'
      const low = schema.minimum ?? schema.exclusiveMinimum
      const lowWord = schema.minimum !== undefined ? 'of at least' : 'above'
      if (low !== undefined && schema.maximum !== undefined) return `${noun} from ${low} to ${schema.maximum}`
      if (low !== undefined) return `${noun} ${lowWord} ${low}`
      return schema.maximum !== undefined ? `${noun} of at most ${schema.maximum}` : noun
    }
    case 'boolean':
      return 'true or false'
    case 'array':
      return 'a list'
    case 'object':
      return 'a mapping of keys'
    default:
      return 'something else'
  }
}

/** The limit a value of the right type breaks ("must be at least 16 characters"), or null. */
function brokenLimit(schema: TSchema, value: unknown): string | null {
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) return schema.minLength === 1 ? 'must not be empty' : `must be at least ${schema.minLength} characters`
    if (schema.maxLength !== undefined && value.length > schema.maxLength) return `must be at most ${schema.maxLength} characters`
  }
  if (typeof value === 'number') {
    if (schema.type === 'integer' && !Number.isInteger(value)) return 'must be a whole number'
    if (schema.minimum !== undefined && value < schema.minimum) return `must be at least ${schema.minimum}`
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) return `must be above ${schema.exclusiveMinimum}`
    if (schema.maximum !== undefined && value > schema.maximum) return `must be at most ${schema.maximum}`
  }
  if (Array.isArray(value) && schema.minItems !== undefined && value.length < schema.minItems) {
    return schema.minItems === 1 ? 'must not be empty' : `must have at least ${schema.minItems} entries`
  }
  return null
}

/**
 * Why `value` does not satisfy `schema`, as "must …". A union is described by its alternatives, or, when the
 * value has the type of one of them, by the limit of that alternative it breaks.
 */
export function describeMismatch(schema: TSchema, value: unknown): string {
  const alternatives = (schema.anyOf as TSchema[] | undefined) ?? [schema]
  if (alternatives.length > 1 && alternatives.every((s) => s.const !== undefined)) {
    return `must be one of ${alternatives.map((s) => s.const).join(', ')}`
  }
  const kind = kindOf(value)
  const sameType = alternatives.filter((s) => fits(s.type, kind))
  for (const alternative of sameType) {
    const limit = brokenLimit(alternative, value)
    if (limit !== null) return limit
  }
  const described = [...alternatives].sort((a, b) => Number(b.type === 'null') - Number(a.type === 'null')).map(expectation)
  return `must be ${described.join(' or ')}`
}
