// A user's 3PIDs on identity servers (client-server API, "Adding Account Administrative Contact
// Information": /account/3pid/bind and /account/3pid/unbind; and the unbinding that removing a 3PID and
// deactivating an account do): this server asks the identity server, and remembers which identity servers
// hold which of the user's 3PIDs so it can unbind them later without being told where.
import { signRequest } from '../protocol/x-matrix.ts'
import type { SigningKey } from '../protocol/signing.ts'
import type { Storage } from '../storage/index.ts'
import type { ThreepidBinding } from '../storage/repositories/threepid-bindings.ts'
import { MatrixError } from '../shared/errors.ts'
import { baseUrl, type IdentityServers } from './identity-servers.ts'

/** The most 3PID bindings one user keeps through this server (deactivation unbinds them one request each). */
export const MAX_BINDINGS = 100

/** What an unbind tells the client (id_server_unbind_result). */
export type UnbindResult = 'success' | 'no-support'

export class ThreepidBindings {
  private readonly storage: Storage
  private readonly identity: IdentityServers
  private readonly serverName: string
  private readonly signingKey: () => SigningKey

  constructor(options: { storage: Storage; identity: IdentityServers; serverName: string; signingKey: () => SigningKey }) {
    this.storage = options.storage
    this.identity = options.identity
    this.serverName = options.serverName
    this.signingKey = options.signingKey
  }

  /** POST /account/3pid/bind; at most MAX_BINDINGS per user (each is asked again at deactivation). */
  async bind(userId: string, request: { idServer: string; idAccessToken: string; sid: string; clientSecret: string }): Promise<void> {
    baseUrl(request.idServer)
    if ((await this.storage.repos.threepidBindings.of(userId)).length >= MAX_BINDINGS) {
      throw new MatrixError('M_LIMIT_EXCEEDED', `At most ${MAX_BINDINGS} addresses can be bound through this server`, 400)
    }
    const bound = await this.identity.bind({ idServer: request.idServer, accessToken: request.idAccessToken }, request.sid, request.clientSecret, userId)
    await this.storage.repos.threepidBindings.add(userId, { ...bound, id_server: request.idServer })
  }

  /**
   * Unbinds one 3PID from `idServer`, or from every identity server this server bound it on: 'success' when
   * every one asked unbound it, 'no-support' when there was none to ask or one did not.
   */
  async unbind(userId: string, threepid: { medium: string; address: string }, idServer?: string): Promise<UnbindResult> {
    const known = await this.storage.repos.threepidBindings.of(userId, threepid)
    const targets = idServer !== undefined ? [{ ...threepid, id_server: idServer }] : known
    return this.unbindAll(userId, targets)
  }

  /** Unbinds every 3PID the user bound through this server (account deactivation). */
  async unbindEverything(userId: string): Promise<UnbindResult> {
    return this.unbindAll(userId, await this.storage.repos.threepidBindings.of(userId))
  }

  private async unbindAll(userId: string, bindings: ThreepidBinding[]): Promise<UnbindResult> {
    if (bindings.length === 0) return 'no-support'
    let all = true
    for (const binding of bindings) {
      baseUrl(binding.id_server)
      const threepid = { medium: binding.medium, address: binding.address }
      const done = await this.identity.unbind(binding.id_server, userId, threepid, (uri, content) =>
        signRequest({ method: 'POST', uri, origin: this.serverName, destination: binding.id_server, content }, this.signingKey()),
      )
      // Forgotten here either way: the user asked for it to go, and a refusal would only be asked again.
      await this.storage.repos.threepidBindings.remove(userId, binding)
      all &&= done
    }
    return all ? 'success' : 'no-support'
  }
}
