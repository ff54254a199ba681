// Loads a Terraform module (every .tf file of one directory) into the JSON form of HCL that @cdktn/hcl2json
// produces: expressions stay as "${…}" strings, blocks become arrays of objects, attribute maps stay objects.
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { getReferencesInExpression, parse } from '@cdktn/hcl2json'

export type Body = Record<string, unknown>

export interface Resource {
  mode: 'resource' | 'data'
  type: string
  name: string
  body: Body
  file: string
}

export interface TerraformModule {
  dir: string
  resources: Resource[]
  variables: Record<string, Body>
  locals: Record<string, unknown>
  outputs: Record<string, Body>
  modules: Record<string, Body>
  terraform: Body[]
  providers: Record<string, Body[]>
  /** Declarations Terraform itself would reject (the same name twice). */
  problems: string[]
}

export interface LoadOptions {
  /**
   * Files applied after the module's own, with Terraform's override-file rule: a block with the same type and
   * name replaces the arguments and nested block types it sets; other blocks are added. The broken fixtures
   * use this to change one thing in the real module.
   */
  overrideFiles?: string[]
}

export async function loadModule(dir: string, options: LoadOptions = {}): Promise<TerraformModule> {
  const module: TerraformModule = { dir: resolve(dir), resources: [], variables: {}, locals: {}, outputs: {}, modules: {}, terraform: [], providers: {}, problems: [] }
  const files = readdirSync(dir).filter((f) => f.endsWith('.tf')).sort().map((f) => join(dir, f))
  for (const file of files) addFile(module, relative(process.cwd(), file), await parseFile(file), false)
  for (const file of options.overrideFiles ?? []) addFile(module, relative(process.cwd(), file), await parseFile(file), true)
  return module
}

const parsed = new Map<string, Body>()
/** Parses one file; the same text is parsed once per process (the fixtures load the module many times). */
async function parseFile(file: string): Promise<Body> {
  const text = readFileSync(file, 'utf8')
  const key = `${file}\0${text}`
  let json = parsed.get(key)
  if (!json) {
    json = (await parse(file, text)) as Body
    parsed.set(key, json)
  }
  return structuredClone(json)
}

function single(value: unknown): Body {
  return (Array.isArray(value) ? value[0] : value) as Body
}

function addFile(module: TerraformModule, file: string, json: Body, override: boolean): void {
  const declare = <T>(kind: string, record: Record<string, T>, name: string, value: T, merge: (old: T, next: T) => T) => {
    if (record[name] === undefined) record[name] = value
    else if (override) record[name] = merge(record[name] as T, value)
    else module.problems.push(`${file}: ${kind} "${name}" is declared twice`)
  }
  const mergeBody = (old: Body, next: Body): Body => ({ ...old, ...next })
  for (const mode of ['resource', 'data'] as const) {
    const byType = (json[mode] ?? {}) as Record<string, Record<string, unknown>>
    for (const [type, byName] of Object.entries(byType)) {
      for (const [name, bodies] of Object.entries(byName)) {
        if (Array.isArray(bodies) && bodies.length > 1) module.problems.push(`${file}: ${mode} "${type}" "${name}" is declared twice`)
        const body = single(bodies)
        const existing = module.resources.find((r) => r.mode === mode && r.type === type && r.name === name)
        if (!existing) module.resources.push({ mode, type, name, body, file })
        else if (override) existing.body = mergeBody(existing.body, body)
        else module.problems.push(`${file}: ${mode} "${type}" "${name}" is declared twice`)
      }
    }
  }
  for (const [name, body] of Object.entries((json.variable ?? {}) as Body)) declare('variable', module.variables, name, single(body), mergeBody)
  for (const [name, body] of Object.entries((json.output ?? {}) as Body)) declare('output', module.outputs, name, single(body), mergeBody)
  for (const [name, body] of Object.entries((json.module ?? {}) as Body)) declare('module', module.modules, name, single(body), mergeBody)
  for (const locals of (json.locals ?? []) as Body[]) {
    for (const [name, value] of Object.entries(locals)) declare('local', module.locals, name, value, (_old, next) => next)
  }
  for (const block of (json.terraform ?? []) as Body[]) {
    const base = override ? module.terraform.find((t) => t.required_providers) : undefined
    if (!base) {
      module.terraform.push(block)
      continue
    }
    // Overrides replace settings, and required_providers entries one provider at a time.
    for (const [key, value] of Object.entries(block)) {
      base[key] = key === 'required_providers' ? [Object.assign({}, ...blocksOf(base, key), ...(value as Body[]))] : value
    }
  }
  for (const [name, bodies] of Object.entries((json.provider ?? {}) as Record<string, Body[]>)) (module.providers[name] ??= []).push(...bodies)
}

/** True when a string holds an expression rather than only literal text. */
export function isExpression(value: unknown): value is string {
  return typeof value === 'string' && value.includes('${')
}

/** A whole-value expression "${…}" without surrounding text: its inner source; otherwise undefined. */
export function expressionSource(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  const match = /^\$\{([\s\S]*)\}$/.exec(value)
  return match && !match[1]?.includes('${') ? match[1]?.trim() : undefined
}

const referenceCache = new Map<string, string[]>()
/** The references (var.x, aws_vpc.main.id, each.value, …) in one string, via the HCL parser itself. */
export async function referencesIn(value: string): Promise<string[]> {
  if (!value.includes('${') && !value.includes('%{')) return []
  let refs = referenceCache.get(value)
  if (!refs) {
    refs = (await getReferencesInExpression('main.tf', value)).map((r) => r.value)
    referenceCache.set(value, refs)
  }
  return refs
}

/** Every string in a value, with the path of keys that leads to it. */
export function* stringsIn(value: unknown, path: string[] = []): Generator<[string, string[]]> {
  if (typeof value === 'string') yield [value, path]
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* stringsIn(v, [...path, String(i)])
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) yield* stringsIn(v, [...path, k])
}

/** The nested blocks of one type in a body, written out or as `dynamic` blocks (their content). */
export function blocksOf(body: Body, name: string): Body[] {
  const written = Array.isArray(body[name]) ? (body[name] as Body[]) : body[name] && typeof body[name] === 'object' ? [body[name] as Body] : []
  const dynamic = ((body.dynamic as Record<string, Body[]> | undefined)?.[name] ?? []).flatMap((d) => (d.content as Body[] | undefined) ?? [])
  return [...written, ...dynamic]
}

export function findResources(module: TerraformModule, type: string, mode: 'resource' | 'data' = 'resource'): Resource[] {
  return module.resources.filter((r) => r.mode === mode && r.type === type)
}
