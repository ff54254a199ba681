// What server-side search reads of an event (client-server API, "Server Side Search", room_events):
// content.body of m.room.message, content.name of m.room.name, and of m.room.topic content.topic plus the
// text/plain representation in content['m.topic'].
import type { JsonObject } from '../protocol/events/types.ts'

/** The search keys of the request and the event type each one covers. */
export const KEY_TYPES = {
  'content.body': 'm.room.message',
  'content.name': 'm.room.name',
  'content.topic': 'm.room.topic',
} as const

export type SearchKey = keyof typeof KEY_TYPES

/** The text search indexes for an event, or null when the event is not searchable. */
export function searchableText(type: string, stateKey: string | null | undefined, content: JsonObject): string | null {
  const parts: string[] = []
  const add = (value: unknown) => {
    if (typeof value === 'string' && value !== '') parts.push(value)
  }
  if (type === 'm.room.message' && (stateKey === undefined || stateKey === null)) add(content.body)
  else if (type === 'm.room.name' && stateKey === '') add(content.name)
  else if (type === 'm.room.topic' && stateKey === '') {
    add(content.topic)
    const text = (content['m.topic'] as JsonObject | undefined)?.['m.text']
    if (Array.isArray(text)) {
      for (const entry of text) {
        if (entry && typeof entry === 'object' && ((entry as JsonObject).mimetype ?? 'text/plain') === 'text/plain') add((entry as JsonObject).body)
      }
    }
  }
  if (parts.length === 0) return null
  // PostgreSQL text cannot hold NUL.
  return parts.join('\n').replaceAll('\u0000', ' ')
}

const WORD = /[\p{L}\p{N}_]+/gu

/**
 * Words to highlight: the query lexemes, and the words of the matched texts that begin with one (the
 * search matches prefixes, so "mart" highlights "martians").
 */
export function highlights(lexemes: string[], texts: string[]): string[] {
  const out = new Set(lexemes)
  for (const text of texts) {
    for (const match of text.matchAll(WORD)) {
      const word = match[0].toLowerCase()
      if (lexemes.some((l) => word.startsWith(l))) out.add(word)
    }
  }
  return [...out]
}
