// The `homestead` command: start | generate-config | register-user | registration-token | migrate | db-bootstrap.
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from './config/load.ts'
import { generateConfig } from './config/generate.ts'
import type { Config } from './config/schema.ts'
import { createContext } from './context.ts'
import { createMetrics } from './metrics.ts'
import { start } from './main.ts'
import { openDatabase } from './server.ts'
import { bootstrapDatabase, bootstrapOptionsFrom } from './storage/index.ts'
import { MatrixError, StartupError, asStartupError } from './shared/errors.ts'
import { createLogger } from './shared/logger.ts'
import type { AppContext } from './context.ts'

const USAGE = `Usage: homestead <command> [options]

Commands:
  start [--config FILE] [--workers N]           Serve the Client-Server API (default port 8008)
  generate-config --server-name NAME [--output FILE]
                                                Write a commented YAML configuration
  register-user NAME [--admin] [--password-file F] [--config FILE]
                                                Create an account (password from F, stdin or a prompt)
  registration-token create [--token T] [--uses N] [--expires-in-days D] [--length L]
  registration-token list [--valid | --invalid]
  registration-token delete TOKEN               Manage registration tokens
  migrate [--config FILE]                       Apply database migrations and exit
  db-bootstrap --admin-url URL [--config FILE]  As the database administrator (URL, or the environment
                                                variable HOMESTEAD_BOOTSTRAP_DATABASE_URL), create or update
                                                the role of database.url (password from
                                                database.password_secret_arn or the URL; rds_iam with
                                                database.iam_auth) with a schema of its own and CONNECT on
                                                its database, nothing more; safe to repeat and to run on
                                                several machines at once

Health: GET /health/live (the process serves; never touches the database), GET /health/ready and
/health (the database answers). While an external database is unreachable at start, \`start\` keeps
trying with backoff and answers /health/live meanwhile.

Configuration: defaults < YAML file (--config or HOMESTEAD_CONFIG) < HOMESTEAD_* environment variables.`

class UsageError extends Error {}

/** Whether a failure shows its stack trace: at log level debug or trace (known once the config is loaded). */
let verboseErrors = false

function configFrom(file: string | undefined): Config {
  const config = loadConfig({ file: file ?? process.env.HOMESTEAD_CONFIG })
  verboseErrors = config.log.level === 'debug' || config.log.level === 'trace'
  return config
}

/** Runs fn with a context over the configured database, then closes it (stopping the embedded server only if we started it). */
async function withContext<T>(config: Config, fn: (ctx: AppContext) => Promise<T>): Promise<T> {
  const logger = createLogger(config.log.level, {}, true)
  const database = await openDatabase(config, logger)
  try {
    const ctx = await createContext({ config, db: database.db, logger, metrics: createMetrics() })
    return await fn(ctx)
  } finally {
    await database.close(false)
  }
}

async function readPassword(file: string | undefined): Promise<string> {
  if (file) return readFileSync(file, 'utf8').replace(/\r?\n$/, '')
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? ''
  }
  const first = await promptHidden('Password: ')
  const second = await promptHidden('Confirm password: ')
  if (first !== second) throw new UsageError('passwords do not match')
  return first
}

function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin
    process.stdout.write(question)
    stdin.setRawMode(true)
    stdin.resume()
    let value = ''
    const onData = (data: Buffer) => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') {
          stdin.setRawMode(false)
          stdin.pause()
          stdin.off('data', onData)
          process.stdout.write('\n')
          resolve(value)
          return
        }
        if (char === '\u0003') {
          stdin.setRawMode(false)
          reject(new UsageError('cancelled'))
          return
        }
        if (char === '\u007f') value = value.slice(0, -1)
        else value += char
      }
    }
    stdin.on('data', onData)
  })
}

async function registerUser(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { admin: { type: 'boolean' }, 'password-file': { type: 'string' }, config: { type: 'string' } },
  })
  const name = positionals[0]
  if (!name || positionals.length > 1) throw new UsageError('register-user takes one user name')
  const config = configFrom(values.config)
  const localpart = name.startsWith('@') ? name.slice(1).split(':')[0] ?? '' : name
  const password = await readPassword(values['password-file'])
  const result = await withContext(config, (ctx) =>
    ctx.accounts.createAccount({ username: localpart, password, admin: values.admin ?? false }),
  )
  console.log(`Created ${result.user_id}${values.admin ? ' (admin)' : ''}`)
}

async function registrationToken(args: string[]): Promise<void> {
  const [action, ...rest] = args
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      token: { type: 'string' },
      uses: { type: 'string' },
      'expires-in-days': { type: 'string' },
      length: { type: 'string' },
      valid: { type: 'boolean' },
      invalid: { type: 'boolean' },
      config: { type: 'string' },
    },
  })
  const config = configFrom(values.config)
  const integer = (text: string | undefined, name: string): number | undefined => {
    if (text === undefined) return undefined
    const n = Number(text)
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer`)
    return n
  }
  switch (action) {
    case 'create': {
      const days = integer(values['expires-in-days'], 'expires-in-days')
      const row = await withContext(config, (ctx) =>
        ctx.registrationTokens.create({
          token: values.token,
          uses_allowed: integer(values.uses, 'uses') ?? null,
          expiry_time: days === undefined ? null : ctx.clock.now() + days * 86_400_000,
          length: integer(values.length, 'length'),
        }),
      )
      console.log(JSON.stringify(row))
      return
    }
    case 'list': {
      const valid = values.valid ? true : values.invalid ? false : null
      const rows = await withContext(config, (ctx) => ctx.registrationTokens.list(valid))
      for (const row of rows) console.log(JSON.stringify(row))
      return
    }
    case 'delete': {
      const token = positionals[0]
      if (!token) throw new UsageError('registration-token delete takes a token')
      await withContext(config, (ctx) => ctx.registrationTokens.delete(token))
      console.log(`Deleted ${token}`)
      return
    }
    default:
      throw new UsageError('registration-token takes create, list or delete')
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv
  switch (command) {
    case 'start': {
      const { values } = parseArgs({ args, options: { config: { type: 'string' }, workers: { type: 'string' } } })
      const config = configFrom(values.config)
      const workers = values.workers === undefined ? config.workers : Number(values.workers)
      if (!Number.isInteger(workers) || workers < 1) throw new UsageError('--workers must be a positive integer')
      await start(config, workers)
      return
    }
    case 'generate-config': {
      const { values } = parseArgs({ args, options: { 'server-name': { type: 'string' }, output: { type: 'string' } } })
      if (!values['server-name']) throw new UsageError('generate-config needs --server-name NAME')
      const text = generateConfig(values['server-name'])
      // Validate what we wrote, so a bad server name is refused here rather than at start.
      const output = values.output
      if (output) {
        if (existsSync(output)) throw new UsageError(`${output} already exists; not overwriting it`)
        writeFileSync(output, text, { mode: 0o600 })
        loadConfig({ file: output, env: {} })
        console.error(`Wrote ${output}`)
      } else {
        process.stdout.write(text)
      }
      return
    }
    case 'register-user':
      return registerUser(args)
    case 'registration-token':
      return registrationToken(args)
    case 'migrate': {
      const { values } = parseArgs({ args, options: { config: { type: 'string' } } })
      const config = configFrom(values.config)
      const logger = createLogger(config.log.level, {}, true)
      const database = await openDatabase(config, logger)
      await database.close(false)
      console.log('Database schema is up to date')
      return
    }
    case 'db-bootstrap': {
      const { values } = parseArgs({ args, options: { 'admin-url': { type: 'string' }, config: { type: 'string' } } })
      const adminUrl = values['admin-url'] ?? process.env.HOMESTEAD_BOOTSTRAP_DATABASE_URL
      if (!adminUrl) throw new UsageError('db-bootstrap needs --admin-url URL (or HOMESTEAD_BOOTSTRAP_DATABASE_URL): the administrator\'s connection')
      const config = configFrom(values.config)
      const options = await bootstrapOptionsFrom(config, adminUrl).catch((err: unknown) => {
        throw asStartupError('db-bootstrap', err)
      })
      const result = await bootstrapDatabase(options).catch((err: unknown) => {
        throw asStartupError(`cannot bootstrap role ${options.role} on database ${options.database}`, err)
      })
      const done = [result.createdDatabase && 'created the database', result.createdRole ? 'created the role' : 'updated the role', result.createdSchema && 'created its schema']
      console.log(`${options.role} on ${options.database}: ${done.filter(Boolean).join(', ')}`)
      return
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE)
      return
    default:
      throw new UsageError(`unknown command ${command}`)
  }
}

/** Errors of the operator's making or of the world around us, which one line explains; anything else is a bug. */
function isExpected(err: unknown): err is Error {
  return err instanceof ConfigError || err instanceof MatrixError || err instanceof StartupError || isParseArgsError(err)
}

function isParseArgsError(err: unknown): err is Error {
  const code = (err as { code?: unknown } | null)?.code
  return err instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError || isParseArgsError(err)) console.error(`homestead: ${err.message}\n\n${USAGE}`)
  else if (isExpected(err) && !verboseErrors) console.error(`homestead: ${err.message}`)
  else console.error('homestead:', err)
  process.exit(err instanceof UsageError ? 64 : 1)
})
