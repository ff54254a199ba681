// One database layer for both the embedded server and an external PostgreSQL (Aurora): a pg Pool,
// a transaction helper with retry on serialization failures, and health checks.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import pg from 'pg'
import { parseIntoClientConfig } from 'pg-connection-string'
import type { Config } from '../config/schema.ts'
import { INVALID_PASSWORD, type PasswordSource } from './credentials.ts'
import type { EmbeddedConnection } from './embedded-postgres.ts'

/** Anything that runs a query: the pool or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>
  /**
   * A write whose result nobody reads. Inside a transaction it is sent at once and not waited for: the
   * statements after it (and the COMMIT) follow it in the same round trip, and the transaction fails if it
   * failed. Over the pool it is an ordinary query, waited for.
   */
  write(text: string, values?: unknown[]): Promise<void>
}

/**
 * Holds a transaction-level advisory lock named by text (`namespace:key`) until the transaction ends: how
 * repositories serialise read-modify-write work on one user, blob or key across instances. A shared hold
 * waits only for exclusive ones (readers that must not start while a writer is inside).
 */
export async function lockName(db: Queryable, namespace: string, key: string, mode: 'exclusive' | 'shared' = 'exclusive'): Promise<void> {
  const fn = mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock'
  await db.query(`SELECT ${fn}(hashtextextended($1 || ':' || $2, 0))`, [namespace, key])
}

/** lockName (exclusive) for several keys in one statement, taken in a fixed order so two such holders never deadlock. */
export async function lockNames(db: Queryable, namespace: string, keys: string[]): Promise<void> {
  if (keys.length === 0) return
  await db.query(`SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || k, 0)) FROM (SELECT DISTINCT k FROM unnest($2::text[]) AS k ORDER BY k) keys`, [namespace, keys])
}

// int8 (bigint) columns hold timestamps and stream positions, all below 2^53: read them as numbers.
const INT8_OID = 20
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
}

const RETRYABLE = new Set(['40001', '40P01']) // serialization_failure, deadlock_detected

// Every repository statement is sent as a named (prepared) statement: PostgreSQL parses and plans it once
// per connection instead of on every execution, which measured ~30 % more sends per second. The SQL texts
// are the repositories' own (a bounded set), so the per-connection statement cache stays small.
const statementNames = new Map<string, string>()
function named(text: string, values: unknown[] | undefined): pg.QueryConfig {
  let name = statementNames.get(text)
  if (name === undefined) {
    name = `hs_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`
    statementNames.set(text, name)
  }
  return { name, text, values: values ?? [] }
}

const IN_FAILED_TRANSACTION = '25P02'

/**
 * A transaction's client. Its connection is pipelined: a statement is sent as soon as it is issued, behind
 * any still unanswered, and PostgreSQL runs them in order (after a failure, the rest of the transaction
 * fails with 25P02). Every statement is kept, so the transaction can tell whether all of them succeeded and
 * which failed first, whether or not anyone waited for its answer.
 */
class TransactionClient implements Queryable {
  private readonly client: pg.PoolClient
  private readonly statements: Array<Promise<unknown>> = []
  private corked = false
  constructor(client: pg.PoolClient) {
    this.client = client
  }

  /** Sends a statement as it is (simple protocol: several statements, no parameters). */
  send(text: string): Promise<pg.QueryResult | pg.QueryResult[]> {
    this.batch()
    return this.track(this.client.query(text) as Promise<pg.QueryResult | pg.QueryResult[]>)
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    this.batch()
    return this.track(this.client.query<R>(named(text, values)))
  }

  /**
   * Statements issued in one go (before the code yields to I/O) leave in one write: a system call per
   * statement costs more than the statement in this kind of VM, and wakes PostgreSQL more often.
   */
  private batch(): void {
    if (this.corked) return
    const socket = (this.client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } }).connection?.stream
    if (!socket?.cork || !socket.uncork) return
    socket.cork()
    this.corked = true
    process.nextTick(() => {
      this.corked = false
      socket.uncork?.()
    })
  }

  write(text: string, values?: unknown[]): Promise<void> {
    void this.query(text, values)
    return Promise.resolve()
  }

  /** The first statement (in the order sent) that failed, once all have been answered; null if none did. */
  async firstFailure(): Promise<unknown> {
    for (const outcome of await Promise.allSettled(this.statements)) if (outcome.status === 'rejected') return outcome.reason
    return null
  }

  private track<T>(statement: Promise<T>): Promise<T> {
    this.statements.push(statement)
    // Seen by firstFailure; a write nobody awaits must not count as an unhandled rejection meanwhile.
    statement.catch(() => {})
    return statement
  }
}

export interface TransactionOptions {
  /** Tries in all when the transaction hits a serialization failure or a deadlock (default 5). */
  attempts?: number
  /**
   * Parameterless statements run right after BEGIN, in the same message (fn gets the rows of the last one);
   * the transaction's own statements do not wait for them: they follow in the same round trip.
   */
  begin?: string
  /** A parameterless statement to run right before COMMIT, in the same round trip (null: none). */
  beforeCommit?: () => string | null
  /**
   * A parameterless read to run right after COMMIT, in the same round trip (null: none); its rows go to
   * onCommitted. It must not fail: an error there would make a committed transaction look failed.
   */
  afterCommit?: () => { sql: string; onCommitted: (rows: pg.QueryResultRow[]) => void } | null
}

export interface DatabaseOptions {
  poolSize: number
  statementTimeoutMs: number
  applicationName?: string
  onError?: (err: Error) => void
  /** Where passwords come from when not in the URL (connectionConfig puts it in the connection too). */
  credentials?: PasswordSource | null
}

export class Database implements Queryable {
  readonly pool: pg.Pool
  /** How to open a connection of one's own (e.g. for LISTEN), outside the pool. */
  readonly connection: pg.ClientConfig
  private readonly backendPids = new Set<number>()
  private readonly onError: ((err: Error) => void) | undefined
  private readonly credentials: PasswordSource | null

  constructor(connection: pg.PoolConfig, options: DatabaseOptions) {
    this.onError = options.onError
    this.credentials = options.credentials ?? null
    this.connection = { ...connection, types, application_name: `${options.applicationName ?? 'homestead'}-listener` }
    this.pool = new pg.Pool({
      ...connection,
      // A transaction's statements go out without waiting for the answers to earlier ones (TransactionClient).
      pipeline: true,
      max: options.poolSize,
      types,
      application_name: options.applicationName ?? 'homestead',
      statement_timeout: options.statementTimeoutMs || undefined,
      connectionTimeoutMillis: 10000,
      idleTimeoutMillis: 30000,
      keepAlive: true,
    })
    // An idle client losing its connection (server restart, failover) must not crash the process;
    // the pool drops it and the next query opens a fresh one.
    this.pool.on('error', (err) => options.onError?.(err))
    // The pool listens for errors only on idle clients. A checked-out client whose connection dies between
    // two statements (a transaction doing work in JS while PostgreSQL restarts) would emit an unhandled
    // 'error' and crash the process (found by the cluster rig). Its next statement fails anyway, and a
    // client that is no longer queryable is dropped on release, so the error itself needs only a listener
    // (idle clients' errors are still reported once, through the pool's 'error' above).
    this.pool.on('connect', (client) => {
      client.on('error', () => {})
      const pid = (client as pg.PoolClient & { processID?: number }).processID
      if (pid !== undefined) {
        this.backendPids.add(pid)
        client.once('end', () => this.backendPids.delete(pid))
      }
    })
  }

  /** Whether a PostgreSQL backend (by process ID) serves one of this pool's connections. */
  ownsBackend(pid: number): boolean {
    return this.backendPids.has(pid)
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.credentials === null) return this.pool.query<R>(named(text, values))
    return this.signedIn(() => this.pool.query<R>(named(text, values)))
  }

  write(text: string, values?: unknown[]): Promise<void> {
    return this.query(text, values).then(() => undefined)
  }

  /**
   * Runs open (which opens a connection before anything else, as the pool does) and, when the server refuses
   * the password because it was rotated, once more with the password read again: nothing ran on the refused
   * connection, so the retry cannot repeat work.
   */
  private signedIn<T>(open: () => Promise<T>): Promise<T> {
    const credentials = this.credentials
    if (credentials === null) return open()
    const generation = credentials.generation
    return open().catch(async (err: unknown) => {
      if ((err as { code?: string }).code !== INVALID_PASSWORD || !(await credentials.refused(generation))) throw err
      return open()
    })
  }

  /**
   * Tells the password source that a connection of one's own (the notifier's) was refused, so the next
   * attempt has the password read again; other errors are ignored.
   */
  async connectionFailed(err: unknown, generation: number): Promise<void> {
    if (this.credentials !== null && (err as { code?: string }).code === INVALID_PASSWORD) await this.credentials.refused(generation).catch(() => false)
  }

  /** The password source's generation before opening a connection of one's own (see connectionFailed). */
  get credentialsGeneration(): number {
    return this.credentials?.generation ?? 0
  }

  /**
   * Runs fn in one transaction; retried from the start on serialization failures and deadlocks. BEGIN and
   * COMMIT take no round trip of their own: the first statements follow BEGIN on the wire, and COMMIT follows
   * the last ones (writes fn did not wait for), then everything is checked.
   */
  async transaction<T>(fn: (tx: Queryable, begun: Promise<pg.QueryResultRow[]>) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const attempts = options.attempts ?? 5
    for (let attempt = 1; ; attempt++) {
      const client = await this.signedIn(() => this.pool.connect())
      const tx = new TransactionClient(client)
      let broken = false
      try {
        const begun = tx.send(options.begin ? `BEGIN; ${options.begin}` : 'BEGIN')
        const begunRows = begun.then((results) => (Array.isArray(results) ? (results[results.length - 1] as pg.QueryResult) : results).rows)
        begunRows.catch(() => {})
        let result: T
        try {
          result = await fn(tx, begunRows)
        } catch (err) {
          // A statement refused because an earlier one failed says nothing: the earlier failure is the cause.
          if ((err as { code?: string }).code === IN_FAILED_TRANSACTION) throw (await tx.firstFailure()) ?? err
          throw err
        }
        // Statements without parameters ride along with COMMIT.
        const last = options.beforeCommit?.()
        const read = options.afterCommit?.() ?? null
        const committed = client.query([last, 'COMMIT', read?.sql].filter((x) => x).join('; '))
        committed.catch(() => {})
        // A failed statement makes PostgreSQL answer COMMIT by rolling back: it must not look committed.
        const failure = await tx.firstFailure()
        if (failure) throw failure
        const results = await committed
        const outcome = Array.isArray(results) ? results.find((r) => r.command === 'COMMIT' || r.command === 'ROLLBACK') : results
        if (outcome?.command !== 'COMMIT') throw new Error(`transaction ended with ${outcome?.command ?? 'nothing'} instead of COMMIT`)
        if (read) read.onCommitted((results as unknown as pg.QueryResult[])[(results as unknown as pg.QueryResult[]).length - 1]!.rows)
        return result
      } catch (err) {
        try {
          await client.query('ROLLBACK')
        } catch {
          broken = true
        }
        const code = (err as { code?: string }).code
        if (code && RETRYABLE.has(code) && attempt < attempts) continue
        throw err
      } finally {
        client.release(broken)
      }
    }
  }

  /** Runs parameterless statements as one simple query (several statements allowed, nothing prepared). */
  async simple(text: string): Promise<void> {
    await this.signedIn(() => this.pool.query(text))
  }

  /** Reports an error of background work that has no caller to throw to. */
  reportError(err: Error): void {
    this.onError?.(err)
  }

  /** A client of its own for work that must hold a session (advisory locks, LISTEN). */
  connect(): Promise<pg.PoolClient> {
    return this.signedIn(() => this.pool.connect())
  }

  async healthy(): Promise<boolean> {
    try {
      await this.ping()
      return true
    } catch {
      return false
    }
  }

  /** A round trip to the server; throws why it failed. */
  async ping(): Promise<void> {
    await this.signedIn(() => this.pool.query('SELECT 1'))
  }

  async close(): Promise<void> {
    await this.pool.end()
  }
}

/**
 * Connection settings for database.url (external) or for the embedded server; `credentials` supplies the
 * password of each new connection when database.url holds none (see credentials.ts).
 */
export function connectionConfig(config: Config, embedded: EmbeddedConnection | null, database = 'homestead', credentials: PasswordSource | null = null): pg.PoolConfig {
  if (embedded) return { host: embedded.host, port: embedded.port, user: embedded.user, database }
  if (!config.database.url) throw new Error('database.url is not set and no embedded server is running')
  let connection: pg.PoolConfig = { connectionString: config.database.url }
  if (credentials) {
    // Not as a connectionString: pg would let the URL's (empty) password override the function.
    const { password: _none, ...parsed } = parseIntoClientConfig(config.database.url)
    connection = { ...parsed, password: () => credentials.password() }
  }
  const ssl = sslOptions(config)
  if (ssl) connection.ssl = ssl
  return connection
}

/** TLS to an external server as database.ssl says (undefined: as the URL says). */
export function sslOptions(config: Config): pg.ClientConfig['ssl'] {
  switch (config.database.ssl) {
    case 'require':
      return { rejectUnauthorized: false }
    case 'verify-full':
      return {
        rejectUnauthorized: true,
        ...(config.database.ssl_ca_file ? { ca: readFileSync(config.database.ssl_ca_file, 'utf8') } : {}),
      }
    default:
      return undefined
  }
}
