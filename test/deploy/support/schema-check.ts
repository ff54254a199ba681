// The offline stand-in for `terraform validate` (which needs the provider binary): every resource type,
// argument, nested block, required argument and reference in a module is checked against the hashicorp/aws
// schema extracted from @cdktn/provider-aws. A module called from another (examples/basic) is checked the
// same way, and its arguments against the called module's variables.
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { blocksOf, isExpression, loadModule, referencesIn, stringsIn, type Body, type Resource, type TerraformModule } from './hcl.ts'
import type { AttributeType, BlockSchema, ProviderSchema } from './schema.ts'

const META_ARGUMENTS = new Set(['count', 'for_each', 'depends_on', 'provider', 'lifecycle', 'provisioner', 'connection'])
/** References that are not declarations of the module. */
const BUILT_IN_ROOTS = new Set(['path', 'terraform'])
/** Resource types built into Terraform itself (provider terraform.io/builtin/terraform), not in the AWS schema. */
const BUILT_IN_RESOURCES: Record<string, BlockSchema> = {
  terraform_data: {
    attributes: { input: 'any', triggers_replace: 'any' },
    blocks: {},
    exported: ['id', 'input', 'output', 'triggers_replace'],
  },
}
const resourceSchema = (schema: ProviderSchema, mode: Resource['mode'], type: string): BlockSchema | undefined =>
  mode === 'resource' ? (schema.resources[type] ?? BUILT_IN_RESOURCES[type]) : schema.data_sources[type]

export async function checkSchema(module: TerraformModule, schema: ProviderSchema): Promise<string[]> {
  const errors = [...module.problems]
  for (const resource of module.resources) {
    const where = `${resource.file}: ${resource.mode === 'data' ? 'data ' : ''}"${resource.type}" "${resource.name}"`
    const blockSchema = resourceSchema(schema, resource.mode, resource.type)
    if (!blockSchema) {
      errors.push(`${where}: unknown ${resource.mode === 'data' ? 'data source' : 'resource'} type ${resource.type} in hashicorp/aws ${schema.provider_version}`)
      continue
    }
    checkBody(resource.body, blockSchema, where, true, errors)
  }
  errors.push(...checkFiles(module))
  errors.push(...(await checkModuleCalls(module, schema)))
  errors.push(...(await checkReferences(module, schema)))
  return errors
}

function checkBody(body: Body, schema: BlockSchema, where: string, topLevel: boolean, errors: string[]): void {
  const present = new Set<string>()
  for (const [key, value] of Object.entries(body)) {
    if (topLevel && key === 'lifecycle') {
      // ignore_changes names arguments of this resource, written bare: "${tags}" in the JSON form.
      for (const lifecycle of value as Body[]) {
        for (const entry of Array.isArray(lifecycle.ignore_changes) ? lifecycle.ignore_changes : []) {
          const name = String(entry).replace(/^\$\{|\}$/g, '').split(/[.[]/)[0] ?? ''
          if (!(name in schema.attributes) && !(name in schema.blocks)) errors.push(`${where}: lifecycle.ignore_changes names unknown argument "${name}"`)
        }
      }
      continue
    }
    if (topLevel && META_ARGUMENTS.has(key)) continue
    if (key === 'dynamic') {
      for (const [name, dynamics] of Object.entries(value as Record<string, Body[]>)) {
        const nested = schema.blocks[name]
        if (!nested) errors.push(`${where}: unknown block "${name}" (dynamic)`)
        else for (const d of dynamics) for (const content of (d.content as Body[] | undefined) ?? []) checkBody(content, nested, `${where} > ${name}`, false, errors)
        present.add(name)
      }
      continue
    }
    present.add(key)
    const attributeType = schema.attributes[key]
    if (attributeType) {
      const problem = literalTypeProblem(value, attributeType)
      if (problem) errors.push(`${where}: argument "${key}" ${problem}`)
      continue
    }
    const nested = schema.blocks[key]
    if (!nested) {
      const looksLikeBlock = Array.isArray(value) && value.length > 0 && value.every((v) => v && typeof v === 'object' && !Array.isArray(v))
      errors.push(`${where}: unknown ${looksLikeBlock ? 'block' : 'argument'} "${key}"`)
      continue
    }
    if (isExpression(value) && nested.attribute) continue
    const instances = blocksOf(body, key)
    if (instances.length === 0 || !(Array.isArray(value) || (nested.attribute && typeof value === 'object'))) {
      errors.push(`${where}: "${key}" is a block, written ${key} { … }, not an argument`)
      continue
    }
    if (nested.max_one && instances.length > 1) errors.push(`${where}: block "${key}" may appear only once`)
    for (const instance of instances) checkBody(instance, nested, `${where} > ${key}`, false, errors)
  }
  for (const name of schema.required ?? []) if (!present.has(name)) errors.push(`${where}: missing required argument "${name}"`)
  for (const [name, nested] of Object.entries(schema.blocks)) {
    if (nested.required_block && !present.has(name)) errors.push(`${where}: missing required block "${name}"`)
  }
}

/** A literal that cannot convert to the attribute's type (an expression is left to Terraform). */
function literalTypeProblem(value: unknown, type: AttributeType): string | undefined {
  if (isExpression(value) || value === null || type === 'any') return undefined
  const kind = Array.isArray(value) ? 'list' : typeof value === 'object' ? 'map' : typeof value
  const ok =
    type === 'string' ? kind === 'string' || kind === 'number' || kind === 'boolean'
    : type === 'number' ? kind === 'number' || (kind === 'string' && value !== '' && Number.isFinite(Number(value)))
    : type === 'bool' ? kind === 'boolean' || value === 'true' || value === 'false'
    : type === 'list' ? kind === 'list'
    : kind === 'map'
  return ok ? undefined : `expects ${type}, got ${kind} ${JSON.stringify(value)}`
}

/**
 * Files read with file(), filemd5() or templatefile() from path.module must exist, and every variable a
 * template interpolates must be passed to it (Terraform would only say so at plan time).
 */
function checkFiles(module: TerraformModule): string[] {
  const errors: string[] = []
  const everything = JSON.stringify([module.resources.map((r) => r.body), module.locals, module.outputs])
  for (const match of everything.matchAll(/\b(file|filemd5|templatefile)\(\\"\$\{path\.module\}\/([^"\\]+)\\"/g)) {
    const [call, fn, path] = match as unknown as [string, string, string]
    const file = resolve(module.dir, path)
    if (!existsSync(file)) {
      errors.push(`${fn}(): ${path} does not exist in ${module.dir}`)
      continue
    }
    if (fn !== 'templatefile') continue
    // The rest of the JSON string that holds the call: the variables passed to the template.
    const args = /^(?:[^"\\]|\\.)*/.exec(everything.slice((match.index ?? 0) + call.length))?.[0] ?? ''
    // Variables given inline (name = …) or as the keys of object locals the call names (local.x, merge(local.x, …)).
    const fromLocals = [...args.matchAll(/\blocal\.([A-Za-z0-9_]+)/g)].flatMap(([, local]) => {
      const value = module.locals[local ?? '']
      return value && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : []
    })
    const template = readFileSync(file, 'utf8').replaceAll('$${', '')
    for (const [, name] of template.matchAll(/\$\{\s*([A-Za-z_][A-Za-z0-9_]*)/g)) {
      if (!fromLocals.includes(name ?? '') && !new RegExp(`\\b${name}\\s*=`).test(args)) errors.push(`templatefile(): ${path} uses \${${name}}, which the call does not pass`)
    }
  }
  return errors
}

/** Module calls: the source must be a local module whose variables cover the arguments given and whose required variables are set. */
async function checkModuleCalls(module: TerraformModule, schema: ProviderSchema): Promise<string[]> {
  const errors: string[] = []
  for (const [name, body] of Object.entries(module.modules)) {
    const source = body.source
    if (typeof source !== 'string' || !source.startsWith('.')) {
      errors.push(`module "${name}": only local sources can be checked offline (got ${JSON.stringify(source)})`)
      continue
    }
    const called = await loadModule(resolve(module.dir, source))
    for (const key of Object.keys(body)) {
      if (['source', 'version', 'providers', 'depends_on', 'count', 'for_each'].includes(key)) continue
      if (!called.variables[key]) errors.push(`module "${name}": the module at ${source} has no variable "${key}"`)
    }
    for (const [variable, declaration] of Object.entries(called.variables)) {
      if (!('default' in declaration) && !(variable in body)) errors.push(`module "${name}": missing required variable "${variable}"`)
    }
    errors.push(...(await checkSchema(called, schema)).map((e) => `module "${name}" (${source}): ${e}`))
  }
  return errors
}

interface Scope {
  where: string
  hasCount: boolean
  hasForEach: boolean
  iterators: Set<string>
}

async function checkReferences(module: TerraformModule, schema: ProviderSchema): Promise<string[]> {
  const errors: string[] = []
  const calledOutputs = new Map<string, Set<string>>()
  for (const [name, body] of Object.entries(module.modules)) {
    if (typeof body.source === 'string' && body.source.startsWith('.')) calledOutputs.set(name, new Set(Object.keys((await loadModule(resolve(module.dir, body.source))).outputs)))
  }
  const declared = (mode: Resource['mode'], type: string, name: string) => module.resources.find((r) => r.mode === mode && r.type === type && r.name === name)

  const checkOne = (ref: string, scope: Scope): string | undefined => {
    const parts = ref.split('.')
    const [root = '', second, third] = parts
    if (BUILT_IN_ROOTS.has(root) || scope.iterators.has(root)) return undefined
    if (root === 'var') return module.variables[second ?? ''] ? undefined : `undeclared variable var.${second}`
    if (root === 'local') return second && second in module.locals ? undefined : `undeclared local local.${second}`
    if (root === 'each') return scope.hasForEach ? undefined : 'each.* outside a block with for_each'
    if (root === 'count') return scope.hasCount ? undefined : 'count.index outside a block with count'
    if (root === 'module') {
      const outputs = calledOutputs.get(second ?? '')
      if (!outputs) return `undeclared module module.${second}`
      return third && !/^\d+$/.test(third) && !outputs.has(third) ? `module.${second} has no output "${third}"` : undefined
    }
    const [mode, type, name, attribute] = root === 'data' ? (['data', second, third, parts[3]] as const) : (['resource', root, second, third] as const)
    if (!type?.startsWith('aws_') && !(mode === 'resource' && type && type in BUILT_IN_RESOURCES)) return `unknown reference ${ref}`
    const resource = declared(mode, type, name ?? '')
    if (!resource) return `reference to undeclared ${mode === 'data' ? 'data source' : 'resource'} ${mode === 'data' ? 'data.' : ''}${type}.${name}`
    const typeSchema = resourceSchema(schema, mode, type)
    const exported = new Set(typeSchema?.exported ?? [])
    if (attribute && !/^(\d+|".*")$/.test(attribute) && typeSchema && !exported.has(attribute)) return `${type} has no attribute "${attribute}"`
    return undefined
  }

  const scan = async (value: unknown, scope: Scope) => {
    for (const [text] of stringsIn(value)) {
      for (const ref of await referencesIn(text)) {
        const problem = checkOne(ref, scope)
        if (problem) errors.push(`${scope.where}: ${problem} (in ${JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text)})`)
      }
    }
  }
  /** Walks a block body so dynamic blocks add their iterator name for their own content only. */
  const scanBody = async (body: Body, scope: Scope) => {
    for (const [key, value] of Object.entries(body)) {
      if (key === 'lifecycle' || key === 'provider') continue // bare attribute names and provider aliases, not references
      if (key === 'dynamic') {
        for (const [name, dynamics] of Object.entries(value as Record<string, Body[]>)) {
          for (const d of dynamics) {
            await scan(d.for_each, scope)
            const iterator = typeof d.iterator === 'string' ? d.iterator.replace(/^\$\{(.*)\}$/, '$1') : name
            for (const content of (d.content as Body[] | undefined) ?? []) await scanBody(content, { ...scope, iterators: new Set([...scope.iterators, iterator]) })
          }
        }
      } else if (Array.isArray(value) && value.every((v) => v && typeof v === 'object' && !Array.isArray(v))) {
        for (const v of value as Body[]) await scanBody(v, scope)
      } else await scan(value, scope)
    }
  }
  const plain = (where: string, body: Body = {}): Scope => ({ where, hasCount: 'count' in body, hasForEach: 'for_each' in body, iterators: new Set() })

  for (const resource of module.resources) await scanBody(resource.body, plain(`${resource.file}: ${resource.mode === 'data' ? 'data ' : ''}"${resource.type}" "${resource.name}"`, resource.body))
  for (const [name, value] of Object.entries(module.locals)) await scan(value, plain(`local.${name}`))
  for (const [name, body] of Object.entries(module.outputs)) await scanBody(body, plain(`output "${name}"`))
  for (const [name, body] of Object.entries(module.modules)) await scanBody(body, plain(`module "${name}"`, body))
  for (const [name, body] of Object.entries(module.variables)) {
    const { type: _type, ...rest } = body // the type constraint is written as bare type names
    await scanBody(rest, plain(`variable "${name}"`))
  }
  for (const [name, bodies] of Object.entries(module.providers)) for (const body of bodies) await scanBody(body, plain(`provider "${name}"`))
  return errors
}
