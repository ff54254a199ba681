// `homestead generate-config`: a commented YAML file written from the schema's defaults and descriptions.
import type { TSchema } from '@sinclair/typebox'
import { stringify } from 'yaml'
import { randomString } from '../shared/random.ts'
import { ConfigSchema } from './schema.ts'

function yamlScalar(value: unknown): string {
  // Lists (media.thumbnail_sizes) stay on the key's line in flow style.
  return stringify(value, { lineWidth: 0, collectionStyle: 'flow' }).trimEnd()
}

function render(schema: TSchema, overrides: Record<string, unknown>, indent: string, out: string[]): void {
  const properties = (schema as unknown as { properties: Record<string, TSchema> }).properties
  for (const [key, prop] of Object.entries(properties)) {
    if (prop.description) {
      for (const line of String(prop.description).split('\n')) out.push(`${indent}# ${line}`)
    }
    if (prop.type === 'object' && (prop as { properties?: unknown }).properties) {
      out.push(`${indent}${key}:`)
      render(prop, (overrides[key] as Record<string, unknown>) ?? {}, `${indent}  `, out)
      continue
    }
    const value = key in overrides ? overrides[key] : prop.default
    out.push(`${indent}${key}: ${yamlScalar(value)}`)
  }
}

export function generateConfig(serverName: string): string {
  const out = [
    '# Homestead configuration. Every key is optional: the value shown is the default.',
    '# Environment variables override this file (HOMESTEAD_SERVER_NAME, HOMESTEAD_DATABASE_URL, …, or',
    '# HOMESTEAD__SECTION__KEY for any key). Keep this file private: it holds a secret.',
    '',
  ]
  render(ConfigSchema, { server_name: serverName, registration: { shared_secret: randomString(48) } }, '', out)
  return `${out.join('\n')}\n`
}
