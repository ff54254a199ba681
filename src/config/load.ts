// Loading: defaults < YAML file < HOMESTEAD_* environment variables, validated once, then frozen.
// This is the only module that reads process.env for configuration.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { Value } from '@sinclair/typebox/value'
import type { TSchema } from '@sinclair/typebox'
import { describeMismatch } from './describe.ts'
import { ConfigSchema, type Config, type ConfigInput } from './schema.ts'
import { parseCidr } from '../outbound/ranges.ts'

export class ConfigError extends Error {}

/** Keys whose values are not repeated in an error message. */
const SECRET_KEYS = /secret|password|smtp_pass|^database\.url$/

/** Environment variables operators and scripts rely on, and the key each sets. */
export const ENV_ALIASES: Record<string, string> = {
  HOMESTEAD_SERVER_NAME: 'server_name',
  HOMESTEAD_PUBLIC_BASEURL: 'public_baseurl',
  HOMESTEAD_HOST: 'listen.host',
  HOMESTEAD_PORT: 'listen.port',
  HOMESTEAD_DATA_DIR: 'data_dir',
  HOMESTEAD_WORKERS: 'workers',
  HOMESTEAD_DATABASE_URL: 'database.url',
  HOMESTEAD_DATABASE_SSL: 'database.ssl',
  HOMESTEAD_ENABLE_REGISTRATION: 'registration.enabled',
  HOMESTEAD_REGISTRATION_REQUIRES_TOKEN: 'registration.requires_token',
  HOMESTEAD_REGISTRATION_SHARED_SECRET: 'registration.shared_secret',
  HOMESTEAD_RATE_LIMITS: 'rate_limits.enabled',
  HOMESTEAD_LOG_LEVEL: 'log.level',
  HOMESTEAD_METRICS_PORT: 'metrics.port',
  HOMESTEAD_TRUST_PROXY: 'http.trust_proxy',
}
/** Any other key: HOMESTEAD__SECTION__KEY=value (double underscores), e.g. HOMESTEAD__DATABASE__POOL_SIZE=40. */
const GENERIC_PREFIX = 'HOMESTEAD__'
/**
 * HOMESTEAD_* variables that are not settings: the config file path, db-bootstrap's admin URL, and those of the
 * tests and worker processes.
 */
const NOT_SETTINGS = /^HOMESTEAD_(CONFIG|BOOTSTRAP_DATABASE_URL|TEST_.*|INTERNAL_.*)$/

type Json = Record<string, unknown>

function schemaAt(path: string[]): TSchema | undefined {
  let schema: TSchema | undefined = ConfigSchema
  for (const part of path) {
    if (schema?.type === 'array' && /^\d+$/.test(part)) schema = schema.items as TSchema | undefined
    else schema = (schema as { properties?: Record<string, TSchema> } | undefined)?.properties?.[part]
    if (!schema) return undefined
  }
  return schema
}

function typesOf(schema: TSchema): Set<string> {
  const types = new Set<string>()
  const visit = (s: TSchema) => {
    if (Array.isArray(s.anyOf)) s.anyOf.forEach(visit)
    else if (typeof s.type === 'string') types.add(s.type)
    else if (s.const !== undefined) types.add(typeof s.const)
  }
  visit(schema)
  return types
}

const TRUE_WORDS = new Set(['true', 'on', 'yes', '1'])
const FALSE_WORDS = new Set(['false', 'off', 'no', '0'])

/** Turns an environment string into the type the schema expects at `path`. */
function parseEnvValue(path: string[], raw: string, variable: string): unknown {
  const schema = schemaAt(path)
  if (!schema) throw new ConfigError(`${variable}: there is no configuration key ${path.join('.')}`)
  const types = typesOf(schema)
  const text = raw.trim()
  if (text === '' && types.has('null')) return null
  if (types.has('boolean')) {
    const word = text.toLowerCase()
    if (TRUE_WORDS.has(word)) return true
    if (FALSE_WORDS.has(word)) return false
    throw new ConfigError(`${path.join('.')}: ${variable} must be true/false or on/off, not "${raw}"`)
  }
  if (types.has('integer') || types.has('number')) {
    const n = Number(text)
    if (text === '' || !Number.isFinite(n)) throw new ConfigError(`${path.join('.')}: ${variable} must be a number, not "${raw}"`)
    return n
  }
  if (types.has('object') || types.has('array')) {
    try {
      return JSON.parse(text)
    } catch {
      throw new ConfigError(`${path.join('.')}: ${variable} must be JSON`)
    }
  }
  return raw
}

function setPath(target: Json, path: string[], value: unknown): void {
  let node = target
  for (const part of path.slice(0, -1)) {
    const next = node[part]
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {}
    node = node[part] as Json
  }
  node[path[path.length - 1] as string] = value
}

function envOverrides(env: NodeJS.ProcessEnv): Array<[string[], unknown]> {
  const out: Array<[string[], unknown]> = []
  for (const [variable, raw] of Object.entries(env)) {
    if (raw === undefined) continue
    const alias = ENV_ALIASES[variable]
    if (alias) out.push([alias.split('.'), parseEnvValue(alias.split('.'), raw, variable)])
    else if (variable.startsWith(GENERIC_PREFIX)) {
      const path = variable.slice(GENERIC_PREFIX.length).toLowerCase().split('__')
      out.push([path, parseEnvValue(path, raw, variable)])
    } else if (variable.startsWith('HOMESTEAD_') && !NOT_SETTINGS.test(variable)) {
      // A misspelt variable would otherwise be ignored without a word.
      throw new ConfigError(`unknown environment variable ${variable}; settings are ${Object.keys(ENV_ALIASES).join(', ')} or HOMESTEAD__SECTION__KEY`)
    }
  }
  return out
}

function readYaml(file: string): Json {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`)
  }
  let parsed: unknown
  try {
    parsed = parseYaml(text)
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`)
  }
  if (parsed === null || parsed === undefined) return {}
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${file} must hold a mapping of keys`)
  return parsed as Json
}

/** A section left empty in YAML (`registration:` with nothing under it) reads as null: treat it as absent. */
function dropEmptySections(yaml: Json, schema: TSchema = ConfigSchema): Json {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties ?? {}
  for (const [key, value] of Object.entries(yaml)) {
    const prop = properties[key]
    if (prop?.type !== 'object') continue
    if (value === null) delete yaml[key]
    else if (typeof value === 'object' && !Array.isArray(value)) dropEmptySections(value as Json, prop)
  }
  return yaml
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

export interface LoadOptions {
  file?: string | undefined
  env?: NodeJS.ProcessEnv
  /** Applied last; used by tests and benchmarks. */
  overrides?: Record<string, unknown>
  cwd?: string
}

/** Builds the configuration; throws ConfigError naming the offending key. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env
  const merged: Json = options.file ? dropEmptySections(structuredClone(readYaml(options.file))) : {}
  for (const [path, value] of envOverrides(env)) setPath(merged, path, value)
  for (const [key, value] of Object.entries(options.overrides ?? {})) setPath(merged, key.split('.'), value)

  movedKeys(merged)
  versionAsString(merged)
  const withDefaults = Value.Default(ConfigSchema, merged) as Json
  const firstError = Value.Errors(ConfigSchema, withDefaults).First()
  if (firstError) {
    const key = firstError.path.replace(/^\//, '').replaceAll('/', '.') || '(top level)'
    const schema = schemaAt(key.split('.'))
    // Secrets are not echoed to a terminal or a log.
    const got = SECRET_KEYS.test(key) ? '' : ` (got ${JSON.stringify(firstError.value)})`
    const detail = schema ? `${describeMismatch(schema, firstError.value)}${got}` : 'unknown key'
    throw new ConfigError(`invalid configuration: ${key}: ${detail}`)
  }
  const input = withDefaults as ConfigInput
  input.well_known.support_contacts.forEach((c, i) => {
    if (c.matrix_id === undefined && c.email_address === undefined) {
      throw new ConfigError(`invalid configuration: well_known.support_contacts.${i}: needs a matrix_id, an email_address or both`)
    }
  })
  const { shared_secret: secret, shared_secret_min_length: minLength } = input.registration
  if (secret !== null && secret.length < minLength) {
    throw new ConfigError(`invalid configuration: registration.shared_secret: must be at least ${minLength} characters (registration.shared_secret_min_length)`)
  }
  const captcha = input.registration.recaptcha
  if (captcha.required && (captcha.public_key === null || captcha.private_key === null)) {
    throw new ConfigError('invalid configuration: registration.recaptcha: required needs public_key and private_key')
  }
  if (input.sso.cas.enabled && input.sso.cas.server_url === null) {
    throw new ConfigError('invalid configuration: sso.cas.server_url: needed when sso.cas.enabled is true')
  }
  checkDatabaseIdentity(input.database)
  if (input.registration.requires_email && input.email.smtp_host === null) {
    throw new ConfigError('invalid configuration: registration.requires_email: needs email.smtp_host, to send the validation mails')
  }
  if (input.email.enable_notifs && input.email.smtp_host === null) {
    throw new ConfigError('invalid configuration: email.enable_notifs: needs email.smtp_host, to send the digest mails')
  }
  if ((input.email.smtp_user === null) !== (input.email.smtp_pass === null)) {
    throw new ConfigError('invalid configuration: email.smtp_pass: set smtp_user and smtp_pass together, or neither')
  }
  for (const key of ['ip_range_blocklist', 'ip_range_allowlist'] as const) {
    input.outbound[key].forEach((cidr, i) => {
      if (!parseCidr(cidr)) throw new ConfigError(`invalid configuration: outbound.${key}.${i}: not a CIDR range such as 10.0.0.0/8 or fd00::/8 (got ${JSON.stringify(cidr)})`)
    })
  }
  const federation = input.federation
  if (federation.listen.port !== null) {
    for (const key of ['tls_certificate_file', 'tls_private_key_file'] as const) {
      if (!federation[key]) throw new ConfigError(`invalid configuration: federation.${key}: needed by the TLS listener on federation.listen.port`)
    }
  }
  // A /sync long-poll reads and writes nothing while it waits: the idle timeout would cut it off.
  if (input.http.idle_timeout_ms <= input.limits.sync_timeout_ms) {
    throw new ConfigError('invalid configuration: http.idle_timeout_ms: must be above limits.sync_timeout_ms, or /sync long-polls are cut off')
  }
  const config: Config = {
    ...input,
    data_dir: resolve(options.cwd ?? process.cwd(), input.data_dir),
    public_baseurl: normaliseBaseUrl(input.public_baseurl ?? defaultBaseUrl(input)),
  }
  return deepFreeze(config)
}

/** Keys that moved: named with their new place rather than refused as unknown. */
function movedKeys(merged: Json): void {
  const preview = (merged.media as Json | undefined)?.url_preview as Json | undefined
  if (preview && 'ip_range_allowlist' in preview) {
    throw new ConfigError(
      'invalid configuration: media.url_preview.ip_range_allowlist: moved to outbound.ip_range_allowlist, which applies to every outbound request (federation and URL previews alike)',
    )
  }
}

/** YAML reads `default_room_version: 11` as a number; room versions are strings (Synapse takes either too). */
function versionAsString(merged: Json): void {
  const rooms = merged.rooms
  if (typeof rooms !== 'object' || rooms === null) return
  const section = rooms as Json
  if (typeof section.default_room_version === 'number') section.default_room_version = String(section.default_room_version)
}

/** One way to sign in to an external database: a password in the URL, a secret, or IAM tokens. */
function checkDatabaseIdentity(database: ConfigInput['database']): void {
  const { url, password_secret_arn: secret, iam_auth: iam } = database
  if (!secret && !iam) return
  const key = secret ? 'database.password_secret_arn' : 'database.iam_auth'
  if (secret && iam) throw new ConfigError('invalid configuration: database.iam_auth: choose IAM tokens or database.password_secret_arn, not both')
  if (!url) throw new ConfigError(`invalid configuration: ${key}: needs database.url (the user, host and database to sign in to)`)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new ConfigError('invalid configuration: database.url: not a valid URL')
  }
  if (parsed.password !== '') throw new ConfigError(`invalid configuration: database.url: holds a password, but ${key} supplies it`)
  if (parsed.username === '') throw new ConfigError(`invalid configuration: database.url: names no user (postgres://USER@host/db), which ${key} signs in as`)
}

function defaultBaseUrl(input: ConfigInput): string {
  const host = input.server_name.replace(/:\d+$/, '')
  if (host === 'localhost' || host === '127.0.0.1' || host === '[::1]') return `http://${host}:${input.listen.port}/`
  return `https://${input.server_name}/`
}

function normaliseBaseUrl(url: string): string {
  return url.endsWith('/') ? url : `${url}/`
}
