// A database made afresh for one harness server (SyTest, the Synapse interop run) on a PostgreSQL server the
// harness administers, dropped again when the server stops. Named by the caller (by port), so one left
// behind by a killed run is dropped and made again rather than piling up.
import pg from 'pg'

export interface ScratchDatabase {
  url: string
  drop(): Promise<void>
}

async function run(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

export async function scratchDatabase(adminUrl: string, name: string): Promise<ScratchDatabase> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`${name} is not a plain database name`)
  await run(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  await run(adminUrl, `CREATE DATABASE ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => run(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}
