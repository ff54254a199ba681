// One-time extractor: turns the jsii assembly of @cdktn/provider-aws (prebuilt bindings of hashicorp/aws 6.x)
// into the compact schema that test/deploy/ checks deploy/aws against, written to
// deploy/aws/schema/aws-provider-6.schema.json.gz. The package is ~400 MB, so it is installed into a temporary
// directory outside the repo and never becomes a project dependency; CI only reads the committed output.
//
//   node scripts/terraform-schema-extract.ts [--version 25.7.0] [--package-dir /path/to/@cdktn/provider-aws]
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { gzipSync } from 'node:zlib'
import type { AttributeType, BlockSchema, ProviderSchema } from '../test/deploy/support/schema.ts'

const OUTPUT = join(import.meta.dirname, '..', 'deploy', 'aws', 'schema', 'aws-provider-6.schema.json.gz')

interface JsiiType {
  fqn: string
  kind: 'class' | 'interface' | 'enum'
  base?: string
  datatype?: boolean
  docs?: { summary?: string; remarks?: string }
  properties?: JsiiProperty[]
  initializer?: { parameters?: Array<{ name: string; type: JsiiTypeRef }> }
}
interface JsiiProperty {
  name: string
  optional?: boolean
  static?: boolean
  docs?: { summary?: string; remarks?: string }
  type: JsiiTypeRef
}
type JsiiTypeRef =
  | { primitive: 'string' | 'number' | 'boolean' | 'any' | 'json' | 'date' }
  | { fqn: string }
  | { collection: { kind: 'array' | 'map'; elementtype: JsiiTypeRef } }
  | { union: { types: JsiiTypeRef[] } }

const { values } = parseArgs({ options: { version: { type: 'string', default: '25.7.0' }, 'package-dir': { type: 'string' } } })

let tempDir: string | undefined
let packageDir = values['package-dir']
if (!packageDir) {
  tempDir = mkdtempSync(join(tmpdir(), 'cdktn-provider-aws-'))
  console.log(`installing @cdktn/provider-aws@${values.version} into ${tempDir} (about 400 MB)`)
  execFileSync('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', `@cdktn/provider-aws@${values.version}`], { cwd: tempDir, stdio: 'inherit' })
  packageDir = join(tempDir, 'node_modules', '@cdktn', 'provider-aws')
}

try {
  const assembly = JSON.parse(readFileSync(join(packageDir, '.jsii'), 'utf8')) as { version: string; readme?: { markdown?: string }; types: Record<string, JsiiType> }
  const providerVersion = /hashicorp\/aws provider version (\d+\.\d+\.\d+)/.exec(assembly.readme?.markdown ?? '')?.[1]
    ?? /hashicorp\/aws\/(\d+\.\d+\.\d+)\/docs/.exec(JSON.stringify(Object.values(assembly.types).find((t) => t.base === 'cdktn.TerraformResource')?.docs))?.[1]
  if (!providerVersion) throw new Error('cannot tell which hashicorp/aws version the assembly was generated from')
  const schema = extract(assembly.types)
  const out: ProviderSchema = {
    source: `@cdktn/provider-aws@${assembly.version} (jsii assembly), generated from hashicorp/aws ${providerVersion}`,
    provider_version: providerVersion,
    ...schema,
  }
  mkdirSync(dirname(OUTPUT), { recursive: true })
  writeFileSync(OUTPUT, gzipSync(JSON.stringify(out), { level: 9 }))
  console.log(`${Object.keys(out.resources).length} resources, ${Object.keys(out.data_sources).length} data sources from hashicorp/aws ${providerVersion} → ${OUTPUT}`)
} finally {
  if (tempDir) rmSync(tempDir, { recursive: true, force: true })
}

/** The Terraform name of a property: the registry anchor in its docs when there is one, else snake_case of its jsii name. */
function terraformName(property: JsiiProperty): string {
  const text = `${property.docs?.summary ?? ''} ${property.docs?.remarks ?? ''}`
  const anchor = /\{@link https:\/\/registry\.terraform\.io\/[^#\s]+#([a-z0-9_]+) /.exec(text)?.[1]
  return anchor ?? snakeCase(property.name)
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
}

function extract(types: Record<string, JsiiType>): Pick<ProviderSchema, 'resources' | 'data_sources'> {
  const resources: Record<string, BlockSchema> = {}
  const dataSources: Record<string, BlockSchema> = {}
  for (const type of Object.values(types)) {
    if (type.kind !== 'class') continue
    const isResource = type.base === 'cdktn.TerraformResource'
    if (!isResource && type.base !== 'cdktn.TerraformDataSource') continue
    const match = /\{@link https:\/\/registry\.terraform\.io\/\S+\/docs\/(resources|data-sources)\/\S+ (aws_[a-z0-9_]+)\}/.exec(type.docs?.summary ?? '')
    if (!match) throw new Error(`${type.fqn}: no Terraform type name in its docs`)
    const configRef = type.initializer?.parameters?.find((p) => p.name === 'config')?.type
    const config = configRef && 'fqn' in configRef ? types[configRef.fqn] : undefined
    if (!config) throw new Error(`${type.fqn}: no config struct in its constructor`)
    const block = blockOf(config, types, new Set())
    // What a reference may read: every argument, every nested block, and the computed attributes (getters).
    const exported = new Set([...Object.keys(block.attributes), ...Object.keys(block.blocks)])
    for (const property of type.properties ?? []) {
      if (property.static || property.name.endsWith('Input')) continue
      exported.add(snakeCase(property.name))
    }
    block.exported = [...exported].sort()
    ;(isResource ? resources : dataSources)[match[2] as string] = block
  }
  return { resources: sorted(resources), data_sources: sorted(dataSources) }
}

function blockOf(struct: JsiiType, types: Record<string, JsiiType>, seen: Set<string>): BlockSchema {
  const block: BlockSchema = { attributes: {}, blocks: {} }
  const required: string[] = []
  for (const property of struct.properties ?? []) {
    const name = terraformName(property)
    const nested = structOf(property.type, types)
    if (nested) {
      if (seen.has(nested.fqn)) continue
      const inner = blockOf(nested, types, new Set([...seen, nested.fqn]))
      // Attributes of object type (aws_security_group's ingress) take the same shape: checked like blocks.
      if (!/^\S+ block\.$/.test(property.docs?.summary ?? '')) inner.attribute = true
      if (!property.optional) inner.required_block = true
      if (!isList(property.type)) inner.max_one = true
      block.blocks[name] = inner
    } else {
      block.attributes[name] = attributeType(property.type)
      if (!property.optional) required.push(name)
    }
  }
  if (required.length > 0) block.required = required.sort()
  return block
}

function structOf(ref: JsiiTypeRef, types: Record<string, JsiiType>): JsiiType | undefined {
  if ('fqn' in ref) {
    const t = types[ref.fqn]
    return t?.kind === 'interface' && t.datatype ? t : undefined
  }
  if ('collection' in ref && ref.collection.kind === 'array') return structOf(ref.collection.elementtype, types)
  if ('union' in ref) for (const member of ref.union.types) {
    const found = structOf(member, types)
    if (found) return found
  }
  return undefined
}

function isList(ref: JsiiTypeRef): boolean {
  if ('collection' in ref) return ref.collection.kind === 'array'
  if ('union' in ref) return ref.union.types.some(isList)
  return false
}

function attributeType(ref: JsiiTypeRef): AttributeType {
  if ('primitive' in ref) {
    if (ref.primitive === 'boolean') return 'bool'
    if (ref.primitive === 'number') return 'number'
    if (ref.primitive === 'string') return 'string'
    return 'any'
  }
  if ('collection' in ref) return ref.collection.kind === 'array' ? 'list' : 'map'
  if ('union' in ref) {
    // cdktn writes "boolean | IResolvable" and "IResolvable | T[]": the member that is not IResolvable tells.
    const members = ref.union.types.filter((t) => !('fqn' in t && t.fqn === 'cdktn.IResolvable'))
    return members.length === 1 ? attributeType(members[0] as JsiiTypeRef) : 'any'
  }
  return 'any'
}

function sorted<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)))
}
