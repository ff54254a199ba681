// User-interactive authentication (client-server API, "User-Interactive Authentication API").
// Sessions live in PostgreSQL so each stage may reach a different instance.
import type { Clock } from '../shared/clock.ts'
import { MatrixError } from '../shared/errors.ts'
import type { UserId } from '../shared/ids.ts'
import { randomString } from '../shared/random.ts'
import type { Repositories, Storage, UiaSessionRow } from '../storage/index.ts'

const SESSION_LIFETIME_MS = 60 * 60 * 1000

export type Flow = string[]

export interface UiaRequest {
  /** What the session authorises; a session cannot be carried over to another purpose or user. */
  purpose: string
  userId: UserId | null
  flows: Flow[]
  params?: Record<string, unknown>
  /** The request body's `auth` member, as sent. */
  auth: unknown
}

export interface UiaSession {
  sessionId: string
  data: Record<string, unknown>
}

export interface StageContext {
  auth: Record<string, unknown>
  session: UiaSessionRow
}

/** Runs one stage: returns data to keep in the session, or throws a MatrixError saying why it failed. */
export type StageHandler = (stage: StageContext) => Promise<Record<string, unknown>>

/** Releases what a stage held when its session expires unused (e.g. a reserved registration token use). */
export type StageRelease = (repos: Repositories, session: UiaSessionRow) => Promise<void>

/**
 * A stage's refusal that ends the request with its own status instead of a 401 challenge: the credentials
 * were checked but belong to someone the session is not for (a stolen access token with another user's
 * password), so retrying the stage cannot help.
 */
export class UiaRefusal extends MatrixError {}

/** The 401 answer that tells the client which stages remain. */
export class UiaChallenge extends MatrixError {
  readonly body: Record<string, unknown>
  readonly sessionId: string

  constructor(sessionId: string, body: Record<string, unknown>, cause?: MatrixError) {
    super(cause?.errcode ?? 'M_UNAUTHORIZED', cause?.message ?? 'Additional authentication required', 401)
    this.sessionId = sessionId
    this.body = cause ? { errcode: cause.errcode, error: cause.message, ...body } : body
  }

  override toJSON(): Record<string, unknown> {
    return this.body
  }
}

export class Uia {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly stages = new Map<string, StageHandler>()
  private readonly releases: StageRelease[] = []
  private readonly reauthStages: Array<(userId: UserId) => Promise<string | null>> = []

  constructor(storage: Storage, clock: Clock) {
    this.storage = storage
    this.clock = clock
  }

  registerStage(type: string, handler: StageHandler, release?: StageRelease): void {
    this.stages.set(type, handler)
    if (release) this.releases.push(release)
  }

  /**
   * Offers a single-stage flow, besides the password, to the users `offer` names it for when they must
   * re-authenticate (m.login.sso for a user who has signed in through an identity provider).
   */
  offerForReauth(offer: (userId: UserId) => Promise<string | null>): void {
    this.reauthStages.push(offer)
  }

  /** The flows a signed-in user may re-authenticate with (deleting devices, changing the password…). */
  async reauthFlows(userId: UserId): Promise<Flow[]> {
    const flows: Flow[] = [['m.login.password']]
    for (const offer of this.reauthStages) {
      const stage = await offer(userId)
      if (stage !== null) flows.push([stage])
    }
    return flows
  }

  /** A session that has not expired, for a stage completed outside the API (a fallback page); else null. */
  session(sessionId: string): Promise<UiaSessionRow | null> {
    return this.storage.repos.uiaSessions.getLive(sessionId, this.clock.now() - SESSION_LIFETIME_MS)
  }

  /** Records a stage completed outside the API request (a fallback page): the next request sees it done. */
  async completeOutside(sessionId: string, type: string, data: Record<string, unknown> = {}): Promise<void> {
    await this.storage.repos.uiaSessions.complete(sessionId, type, data)
  }

  /**
   * Spoils a session whose stage was completed by someone other than its user (a single sign-on as another
   * account): every later request with it is refused with a 403, as a password stage for another user is.
   */
  async refuse(sessionId: string, message: string): Promise<void> {
    await this.storage.repos.uiaSessions.mergeData(sessionId, { refused: message })
  }

  /** Returns the completed session, or throws a UiaChallenge (401) describing what is still needed. */
  async authenticate(request: UiaRequest): Promise<UiaSession> {
    const auth = request.auth
    if (auth !== undefined && auth !== null && (typeof auth !== 'object' || Array.isArray(auth))) {
      throw new MatrixError('M_BAD_JSON', '"auth" must be an object')
    }
    const authDict = (auth ?? null) as Record<string, unknown> | null
    const sessionId = authDict?.session
    if (sessionId !== undefined && typeof sessionId !== 'string') throw new MatrixError('M_BAD_JSON', '"auth.session" must be a string')

    let session: UiaSessionRow
    if (sessionId === undefined) {
      session = await this.createSession(request)
    } else {
      const found = await this.storage.repos.uiaSessions.getLive(sessionId, this.clock.now() - SESSION_LIFETIME_MS)
      if (!found) throw new MatrixError('M_UNKNOWN', 'Unknown or expired authentication session', 400)
      if (found.purpose !== request.purpose || found.user_id !== request.userId) {
        throw new MatrixError('M_FORBIDDEN', 'This authentication session was started for another request')
      }
      if (typeof found.data.refused === 'string') throw new UiaRefusal('M_FORBIDDEN', found.data.refused, 403)
      session = found
    }
    if (!authDict || authDict.type === undefined) {
      if (this.completedFlow(request.flows, session.completed)) return { sessionId: session.session_id, data: session.data }
      throw this.challenge(request, session)
    }

    const type = authDict.type
    if (typeof type !== 'string' || !request.flows.some((flow) => flow.includes(type))) {
      throw this.challenge(request, session, new MatrixError('M_UNRECOGNIZED', `Authentication type ${String(type)} is not offered here`, 400))
    }
    const handler = this.stages.get(type)
    if (!handler) throw this.challenge(request, session, new MatrixError('M_UNRECOGNIZED', `Unsupported authentication type ${type}`, 400))
    let data: Record<string, unknown>
    try {
      data = await handler({ auth: authDict, session })
    } catch (err) {
      if (err instanceof MatrixError && err.status !== 429 && !(err instanceof UiaRefusal)) throw this.challenge(request, session, err)
      throw err
    }
    await this.storage.repos.uiaSessions.complete(session.session_id, type, data)
    const completed = [...session.completed.filter((s) => s !== type), type]
    const merged = { ...session.data, ...data }
    if (this.completedFlow(request.flows, completed)) return { sessionId: session.session_id, data: merged }
    throw this.challenge(request, { ...session, completed, data: merged })
  }

  /** Ends a completed session inside the transaction that performs the authorised operation. */
  finish(repos: Repositories, sessionId: string): Promise<void> {
    return repos.uiaSessions.delete(sessionId)
  }

  /**
   * Marks a completed session as used, inside the transaction that performed the operation, keeping
   * `outcome` in it until it expires: a client that retries the same request with the same session (its
   * answer was lost) gets the same result instead of an error. Nothing a stage held is released later.
   */
  conclude(repos: Repositories, sessionId: string, outcome: Record<string, unknown>): Promise<void> {
    return repos.uiaSessions.mergeData(sessionId, { outcome })
  }

  /** The outcome a concluded session for `purpose`, named by an `auth` dict's `session`, recorded; else null. */
  async outcome(auth: unknown, purpose: string): Promise<Record<string, unknown> | null> {
    const sessionId = auth !== null && typeof auth === 'object' ? (auth as Record<string, unknown>).session : undefined
    if (typeof sessionId !== 'string') return null
    const row = await this.storage.repos.uiaSessions.getLive(sessionId, this.clock.now() - SESSION_LIFETIME_MS)
    const outcome = row?.purpose === purpose ? row.data.outcome : undefined
    return outcome !== null && typeof outcome === 'object' ? (outcome as Record<string, unknown>) : null
  }

  /** Keeps data in a session between requests (e.g. the username chosen on the first /register). */
  async remember(sessionId: string, data: Record<string, unknown>): Promise<void> {
    await this.storage.repos.uiaSessions.mergeData(sessionId, data)
  }

  /**
   * Opens a session inside the caller's transaction, keeping `data` in it from the start, and returns the
   * 401 to throw once that transaction has committed: for a request whose first attempt must leave
   * something visible to other requests at the moment its session exists (see CrossSigning.uploadKeys).
   */
  async open(repos: Repositories, request: Omit<UiaRequest, 'auth'>, data: Record<string, unknown>): Promise<UiaChallenge> {
    const row = await this.insertSession(repos, request, data)
    return this.challenge(request, row)
  }

  /** What was remembered in a user's newest sessions for `purpose` that have neither finished nor expired, newest first. */
  async pending(purpose: string, userId: UserId, repos: Repositories = this.storage.repos): Promise<Array<Record<string, unknown>>> {
    const rows = await repos.uiaSessions.liveFor(purpose, userId, this.clock.now() - SESSION_LIFETIME_MS)
    return rows.map((r) => r.data)
  }

  private completedFlow(flows: Flow[], completed: string[]): boolean {
    return flows.some((flow) => flow.every((stage) => completed.includes(stage)))
  }

  private createSession(request: UiaRequest): Promise<UiaSessionRow> {
    return this.storage.transaction((repos) => this.insertSession(repos, request, {}))
  }

  /** A new session, in the caller's transaction, after removing the expired ones. */
  private async insertSession(repos: Repositories, request: Omit<UiaRequest, 'auth'>, data: Record<string, unknown>): Promise<UiaSessionRow> {
    const now = this.clock.now()
    const row: UiaSessionRow = {
      session_id: randomString(24),
      purpose: request.purpose,
      user_id: request.userId,
      completed: [],
      data,
      created_ts: now,
    }
    for (const expired of await repos.uiaSessions.deleteExpired(now - SESSION_LIFETIME_MS)) {
      if (expired.data.outcome !== undefined) continue
      for (const release of this.releases) await release(repos, expired)
    }
    await repos.uiaSessions.create(row)
    return row
  }

  private challenge(request: Omit<UiaRequest, 'auth'>, session: UiaSessionRow, cause?: MatrixError): UiaChallenge {
    return new UiaChallenge(
      session.session_id,
      {
        flows: request.flows.map((stages) => ({ stages })),
        params: request.params ?? {},
        session: session.session_id,
        completed: session.completed,
      },
      cause,
    )
  }
}
