// `homestead db-bootstrap`: as the database's administrator (the RDS master user), give Homestead a login
// role of its own with only what it needs: CONNECT on its database and a schema it owns, named after it (the
// default search_path "$user", public finds it first), where the migrations then create everything as that
// role. Not a superuser, no CREATEDB, no CREATEROLE. Idempotent, and safe when several instances run it at
// once (one advisory lock on the administrator's database).
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Config } from '../config/schema.ts'
import { SecretPassword } from './credentials.ts'
import { sslOptions } from './db.ts'

// An arbitrary constant naming "Homestead database bootstrap" among advisory locks.
const BOOTSTRAP_LOCK_KEY = 7_386_051_113
const SCRAM_ITERATIONS = 4096

export interface BootstrapOptions {
  /** The administrator's connection (any database on the server). */
  admin: pg.ClientConfig
  /** The role Homestead signs in as, and the database it uses. */
  role: string
  database: string
  /** The role's password; null with IAM authentication (then the role gets rds_iam and no password). */
  password: string | null
}

export interface BootstrapResult {
  createdRole: boolean
  createdDatabase: boolean
  createdSchema: boolean
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password`, so ALTER ROLE never carries the password
 * itself (statement and slow-query logs would keep it). PostgreSQL SASLprep-normalises a password first; for
 * ASCII that changes nothing, so other passwords are left for the server to hash (null).
 */
export function scramVerifier(password: string, salt = randomBytes(16)): string | null {
  if (!/^[\x20-\x7e]*$/.test(password)) return null
  const salted = pbkdf2Sync(password, salt, SCRAM_ITERATIONS, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}

const ident = (name: string) => pg.escapeIdentifier(name)
const literal = (text: string) => pg.escapeLiteral(text)

export async function bootstrapDatabase(options: BootstrapOptions): Promise<BootstrapResult> {
  const { role, database } = options
  const admin = new pg.Client(options.admin)
  await admin.connect()
  try {
    await admin.query('SELECT pg_advisory_lock($1)', [BOOTSTRAP_LOCK_KEY])
    const { rows: me } = await admin.query<{ user: string; superuser: boolean }>(
      'SELECT current_user AS user, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user',
    )
    if (me[0]?.user === role) throw new Error(`database.url names the administrator (${role}) itself; Homestead needs a role of its own`)

    const createdDatabase = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount === 0
    if (createdDatabase) await admin.query(`CREATE DATABASE ${ident(database)}`)

    const existing = await admin.query<{ rolsuper: boolean }>('SELECT rolsuper FROM pg_roles WHERE rolname = $1', [role])
    const createdRole = existing.rowCount === 0
    if (existing.rows[0]?.rolsuper) throw new Error(`role ${role} is a superuser; Homestead will not run as one (drop it or name another role in database.url)`)
    const verifier = options.password === null ? null : scramVerifier(options.password)
    const password = options.password === null ? 'NULL' : literal(verifier ?? options.password)
    // Only attributes a non-superuser administrator (RDS) may set; NOSUPERUSER and the like are defaults.
    await admin.query(`${createdRole ? 'CREATE' : 'ALTER'} ROLE ${ident(role)} WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD ${password}`)
    await setIamMembership(admin, role, options.password === null)
    await admin.query(`GRANT CONNECT ON DATABASE ${ident(database)} TO ${ident(role)}`)
    // An administrator that is not a superuser may give a schema to a role only if it may act as that role
    // (PostgreSQL 16 and later: the SET option of a membership; before: any membership).
    if (!me[0]?.superuser) {
      const member = await admin.query<{ ok: boolean }>(
        "SELECT pg_has_role(current_user, $1, CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END) AS ok",
        [role],
      )
      if (!member.rows[0]?.ok) await admin.query(`GRANT ${ident(role)} TO CURRENT_USER`)
    }
    const createdSchema = await ownSchema(onDatabase(options.admin, database), role)
    return { createdRole, createdDatabase, createdSchema }
  } finally {
    await admin.end().catch(() => {}) // the lock goes with the session
  }
}

/** The administrator's connection, to another database (a URL's database would win over a `database` key). */
function onDatabase(admin: pg.ClientConfig, database: string): pg.ClientConfig {
  if (admin.connectionString === undefined) return { ...admin, database }
  const url = new URL(admin.connectionString)
  url.pathname = `/${encodeURIComponent(database)}`
  return { ...admin, connectionString: url.toString() }
}

/** rds_iam (Amazon RDS's role that switches a login to IAM tokens) given with iam, taken away without. */
async function setIamMembership(admin: pg.Client, role: string, iam: boolean): Promise<void> {
  const exists = (await admin.query("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'")).rowCount !== 0
  if (iam && !exists) throw new Error('database.iam_auth needs Amazon RDS or Aurora (no rds_iam role on this server)')
  if (!exists) return
  const member = (await admin.query("SELECT pg_has_role($1, 'rds_iam', 'MEMBER') AS m", [role])).rows[0]?.m === true
  if (iam && !member) await admin.query(`GRANT rds_iam TO ${ident(role)}`)
  // A member of rds_iam cannot sign in with a password on RDS.
  if (!iam && member) await admin.query(`REVOKE rds_iam FROM ${ident(role)}`)
}

/** The role's own schema in its database (created, or given back to it); true when created. */
async function ownSchema(connection: pg.ClientConfig, role: string): Promise<boolean> {
  const client = new pg.Client(connection)
  await client.connect()
  try {
    // Tables an earlier setup created in public (as another role) would be left behind, unseen: say so.
    const schemas = await client.query<{ nspname: string }>("SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'schema_migrations' AND c.relkind = 'r'")
    const found = schemas.rows.map((r) => r.nspname)
    if (found.length > 0 && !found.includes(role)) {
      throw new Error(`Homestead's tables already exist in schema ${found.join(', ')} of this database, not in ${role}: move them (ALTER TABLE … SET SCHEMA ${role}, owned by ${role}) or keep signing in as their owner`)
    }
    const existing = await client.query<{ owner: string }>('SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1', [role])
    if (existing.rowCount === 0) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(role)} AUTHORIZATION ${ident(role)}`)
      return true
    }
    if (existing.rows[0]?.owner !== role) await client.query(`ALTER SCHEMA ${ident(role)} OWNER TO ${ident(role)}`)
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

/**
 * What db-bootstrap does for this configuration: the role and database of database.url, the password from
 * database.password_secret_arn or database.url (none with database.iam_auth), TLS as database.ssl says.
 */
export async function bootstrapOptionsFrom(config: Config, adminUrl: string): Promise<BootstrapOptions> {
  if (!config.database.url) throw new Error('db-bootstrap needs database.url (the role and database Homestead signs in to)')
  const url = new URL(config.database.url)
  const role = decodeURIComponent(url.username)
  const database = decodeURIComponent(url.pathname.slice(1)) || role
  if (!role) throw new Error('database.url names no user: db-bootstrap creates the role it names')
  let password: string | null = null
  if (config.database.password_secret_arn) {
    const secret = new SecretPassword(config.database.password_secret_arn, { region: config.database.aws_region ?? undefined })
    try {
      password = await secret.password()
    } finally {
      secret.close()
    }
  } else if (!config.database.iam_auth) {
    password = decodeURIComponent(url.password)
    if (!password) throw new Error('no password for the role: set database.password_secret_arn, a password in database.url, or database.iam_auth')
  }
  const ssl = sslOptions(config)
  return { admin: { connectionString: adminUrl, ...(ssl ? { ssl } : {}) }, role, database, password }
}
