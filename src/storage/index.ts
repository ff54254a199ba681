// The storage layer's public surface: the database, migrations, the embedded server and one
// repository per table group. Only this folder talks SQL.
import type { Database, Queryable } from './db.ts'
import { AccountDataRepository } from './repositories/account-data.ts'
import { DevicesRepository } from './repositories/devices.ts'
import { NoncesRepository } from './repositories/nonces.ts'
import { ProfilesRepository } from './repositories/profiles.ts'
import { RateLimitsRepository } from './repositories/rate-limits.ts'
import { RegistrationTokensRepository } from './repositories/registration-tokens.ts'
import { ServerKeysRepository } from './repositories/server-keys.ts'
import { TokensRepository } from './repositories/tokens.ts'
import { UiaSessionsRepository } from './repositories/uia-sessions.ts'
import { UsersRepository } from './repositories/users.ts'

export { Database, connectionConfig, type Queryable } from './db.ts'
export { EmbeddedPostgres, type EmbeddedConnection } from './embedded-postgres.ts'
export { migrate, listMigrations } from './migrate.ts'
export type { UserRow } from './repositories/users.ts'
export type { DeviceRow } from './repositories/devices.ts'
export type { RegistrationTokenRow } from './repositories/registration-tokens.ts'
export type { UiaSessionRow } from './repositories/uia-sessions.ts'
export type { ProfileFields } from './repositories/profiles.ts'

/** Every repository, bound to one Queryable (the pool, or a transaction's client). */
export interface Repositories {
  users: UsersRepository
  devices: DevicesRepository
  tokens: TokensRepository
  profiles: ProfilesRepository
  accountData: AccountDataRepository
  uiaSessions: UiaSessionsRepository
  registrationTokens: RegistrationTokensRepository
  serverKeys: ServerKeysRepository
  rateLimits: RateLimitsRepository
  nonces: NoncesRepository
}

export function repositories(db: Queryable): Repositories {
  return {
    users: new UsersRepository(db),
    devices: new DevicesRepository(db),
    tokens: new TokensRepository(db),
    profiles: new ProfilesRepository(db),
    accountData: new AccountDataRepository(db),
    uiaSessions: new UiaSessionsRepository(db),
    registrationTokens: new RegistrationTokensRepository(db),
    serverKeys: new ServerKeysRepository(db),
    rateLimits: new RateLimitsRepository(db),
    nonces: new NoncesRepository(db),
  }
}

/** Repositories over the pool, plus `transaction` for work that must commit together. */
export class Storage {
  readonly db: Database
  readonly repos: Repositories

  constructor(db: Database) {
    this.db = db
    this.repos = repositories(db)
  }

  transaction<T>(fn: (repos: Repositories) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(repositories(tx)))
  }
}
