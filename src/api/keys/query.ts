// GET  /_matrix/key/v2/query/{serverName}
// GET  /_matrix/key/v2/query/{serverName}/{keyId} (gone from the spec, still asked by older servers: the same answer)
// POST /_matrix/key/v2/query
// Spec: server-server-api, "Querying Keys Through Another Server" — Homestead as a notary.
import { Type } from '@sinclair/typebox'
import { MatrixError } from '../../shared/errors.ts'
import { defineRoute } from '../route.ts'

/** Most servers one POST may ask about; each may cost a fetch from that server. */
const MAX_SERVERS_PER_QUERY = 100
const MAX_KEY_IDS_PER_SERVER = 100

const Criteria = Type.Object({ minimum_valid_until_ts: Type.Optional(Type.Integer({ minimum: 0 })) })

export const queryServerKeys = defineRoute({
  method: 'GET',
  // The key ID does not narrow the answer: every key of the server is given, as without it.
  url: ['/_matrix/key/v2/query/:serverName', '/_matrix/key/v2/query/:serverName/:keyId'],
  auth: 'none',
  params: Type.Object({ serverName: Type.String(), keyId: Type.Optional(Type.String()) }),
  query: Type.Object({ minimum_valid_until_ts: Type.Optional(Type.Integer({ minimum: 0 })) }),
  async handler(ctx, { params, query }) {
    const answer = await ctx.federation.keys.notaryAnswer([{ serverName: params.serverName, keyIds: [], minimumValidUntilTs: query.minimum_valid_until_ts ?? null }])
    return { server_keys: answer }
  },
})

export const queryServerKeysBatch = defineRoute({
  method: 'POST',
  url: '/_matrix/key/v2/query',
  auth: 'none',
  body: Type.Object({ server_keys: Type.Record(Type.String(), Type.Record(Type.String(), Criteria)) }),
  async handler(ctx, { body }) {
    const servers = Object.entries(body.server_keys)
    if (servers.length > MAX_SERVERS_PER_QUERY) throw new MatrixError('M_TOO_LARGE', `At most ${MAX_SERVERS_PER_QUERY} servers per query`)
    if (servers.some(([, keys]) => Object.keys(keys).length > MAX_KEY_IDS_PER_SERVER)) {
      throw new MatrixError('M_TOO_LARGE', `At most ${MAX_KEY_IDS_PER_SERVER} key IDs per server`)
    }
    const queries = servers.map(([serverName, keys]) => {
      const minimums = Object.values(keys).flatMap((c) => (c.minimum_valid_until_ts === undefined ? [] : [c.minimum_valid_until_ts]))
      return { serverName, keyIds: Object.keys(keys), minimumValidUntilTs: minimums.length ? Math.max(...minimums) : null }
    })
    return { server_keys: await ctx.federation.keys.notaryAnswer(queries) }
  },
})
