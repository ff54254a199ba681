// The hashicorp/aws provider schema, as extracted once by scripts/terraform-schema-extract.ts from the jsii
// assembly of @cdktn/provider-aws and committed compressed under deploy/aws/schema/.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'

/** list/map cover lists, sets and maps of primitives. */
export type AttributeType = 'string' | 'number' | 'bool' | 'list' | 'map' | 'any'

export interface BlockSchema {
  attributes: Record<string, AttributeType>
  blocks: Record<string, BlockSchema>
  /** Arguments that must be set. */
  required?: string[]
  /** This nested block must appear. */
  required_block?: true
  /** This nested block may appear once at most. */
  max_one?: true
  /** An attribute of object type (written `name = {…}` or, for some, as blocks), checked like a block. */
  attribute?: true
  /** On a resource or data source: the names a reference may read (arguments, blocks, computed attributes). */
  exported?: string[]
}

export interface ProviderSchema {
  source: string
  provider_version: string
  resources: Record<string, BlockSchema>
  data_sources: Record<string, BlockSchema>
}

export const SCHEMA_FILE = join(import.meta.dirname, '..', '..', '..', 'deploy', 'aws', 'schema', 'aws-provider-6.schema.json.gz')

let cached: ProviderSchema | undefined
export function loadProviderSchema(file = SCHEMA_FILE): ProviderSchema {
  if (file === SCHEMA_FILE && cached) return cached
  const schema = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8')) as ProviderSchema
  if (file === SCHEMA_FILE) cached = schema
  return schema
}
