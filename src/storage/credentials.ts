// Where an external database's password comes from when it is not in database.url: an AWS Secrets Manager
// secret (read at start, cached, read again when PostgreSQL refuses it: a rotated password needs no
// restart), or an RDS IAM authentication token made for each new connection.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { Signer } from '@aws-sdk/rds-signer'
import type { Config } from '../config/schema.ts'

/** SQLSTATE invalid_password: the server refused the password (or the IAM token). */
export const INVALID_PASSWORD = '28P01'

/** How long after reading the secret a refused password does not make us read it again. */
export const SECRET_REREAD_MS = 5000

export interface PasswordSource {
  /** The password for a new connection (pg calls this whenever the server asks for one). */
  password(): Promise<string>
  /** Changes each time the password may have changed; noted before connecting, given to refused(). */
  readonly generation: number
  /**
   * The server refused the password of a connection opened at `generation`. Resolves true when a new
   * connection may now succeed (the password changed since), false when trying again would not help.
   */
  refused(generation: number): Promise<boolean>
}

/** The password from a secret's SecretString: JSON {"username", "password"} (as RDS and Terraform write it) or bare text. */
export function passwordOfSecret(secretString: string): string {
  if (secretString.trimStart().startsWith('{')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(secretString)
    } catch {
      throw new Error('the database password secret is neither JSON nor a bare password')
    }
    const password = (parsed as { password?: unknown }).password
    if (typeof password !== 'string' || password === '') throw new Error('the database password secret has no "password" field')
    return password
  }
  if (secretString === '') throw new Error('the database password secret is empty')
  return secretString
}

/** The region of an ARN (arn:aws:secretsmanager:REGION:account:secret:name), or undefined. */
export function regionOfArn(arn: string): string | undefined {
  return arn.split(':')[3] || undefined
}

/** The password held by a Secrets Manager secret, read once and again only after a refusal (rate-limited). */
export class SecretPassword implements PasswordSource {
  private readonly client: SecretsManagerClient
  private readonly secretId: string
  private readonly rereadMs: number
  private cached: string | null = null
  private reading: Promise<string> | null = null
  private rereading: Promise<void> | null = null
  /** When a refusal last made us read the secret again (the first read, at start, does not count). */
  private rereadAt = 0
  generation = 0

  constructor(secretId: string, options: { region?: string; rereadMs?: number } = {}) {
    this.secretId = secretId
    this.rereadMs = options.rereadMs ?? SECRET_REREAD_MS
    // The endpoint follows AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL, as the SDK does by itself.
    this.client = new SecretsManagerClient({ region: options.region ?? regionOfArn(secretId) })
  }

  password(): Promise<string> {
    if (this.cached !== null) return Promise.resolve(this.cached)
    return this.read()
  }

  async refused(generation: number): Promise<boolean> {
    if (generation !== this.generation) return true // already read again since that connection started
    // Read at most once per interval (a wrong secret must not turn every connection attempt into an API
    // call): a refusal soon after a read waits for the interval's end, and refusals meanwhile share one read.
    this.rereading ??= (async () => {
      const wait = this.rereadAt + this.rereadMs - Date.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      this.rereadAt = Date.now()
      await this.read()
    })().finally(() => (this.rereading = null))
    await this.rereading
    return generation !== this.generation
  }

  /** Reads the secret; concurrent callers share one request. */
  private read(): Promise<string> {
    this.reading ??= (async () => {
      try {
        const result = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }))
        if (result.SecretString === undefined) throw new Error('the database password secret has no SecretString')
        const password = passwordOfSecret(result.SecretString)
        if (password !== this.cached) this.generation++
        this.cached = password
        return password
      } catch (err) {
        throw new Error(`cannot read the database password from ${this.secretId}: ${(err as Error).message}`, { cause: err })
      } finally {
        this.reading = null
      }
    })()
    return this.reading
  }

  close(): void {
    this.client.destroy()
  }
}

/** What IamPassword asks for each token (the @aws-sdk/rds-signer Signer, or a stand-in in unit tests). */
export type TokenSigner = (options: { hostname: string; port: number; username: string; region: string | undefined }) => Promise<string>

const rdsSigner: TokenSigner = (options) => new Signer(options).getAuthToken()

/** A fresh IAM authentication token for every new connection (tokens live 15 minutes; a connection outlives its token). */
export class IamPassword implements PasswordSource {
  private readonly target: { hostname: string; port: number; username: string; region: string | undefined }
  private readonly sign: TokenSigner
  readonly generation = 0

  constructor(url: string, region: string | undefined, sign: TokenSigner = rdsSigner) {
    const parsed = new URL(url)
    this.target = { hostname: parsed.hostname, port: Number(parsed.port || 5432), username: decodeURIComponent(parsed.username), region }
    this.sign = sign
  }

  password(): Promise<string> {
    return this.sign(this.target)
  }

  /** Each connection already had a token of its own: another would be refused for the same reason. */
  refused(): Promise<boolean> {
    return Promise.resolve(false)
  }
}

/** The password source database.* asks for, or null when the password (if any) is in database.url. */
export function passwordSource(database: Config['database']): (PasswordSource & { close?(): void }) | null {
  const region = database.aws_region ?? undefined
  if (database.password_secret_arn) return new SecretPassword(database.password_secret_arn, { region })
  if (database.iam_auth && database.url) return new IamPassword(database.url, region)
  return null
}
