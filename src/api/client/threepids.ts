// GET/POST /account/3pid, POST /account/3pid/{add,delete} (bind and unbind: threepid-binding.ts), POST /{account/3pid,register,account/password}/{email,msisdn}/requestToken
// Spec: client-server-api, "Adding Account Administrative Contact Information"
import { MatrixError } from '../../shared/errors.ts'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'

// Homestead keeps no third-party identifiers and sends no e-mail or SMS: the list is empty, and every change
// is refused with the error Synapse gives when 3PID changes are disabled (the capability m.3pid_changes says
// so too), rather than a 404 a client takes for a broken server.
const disabled = () => new MatrixError('M_FORBIDDEN', '3PID changes are disabled on this server', 400)

export const listThreepids = defineRoute({
  method: 'GET',
  url: cs('/account/3pid'),
  auth: 'user',
  async handler() {
    return { threepids: [] }
  },
})

export const changeThreepids = defineRoute({
  method: 'POST',
  url: [...cs('/account/3pid'), ...cs('/account/3pid/add'), ...cs('/account/3pid/delete')],
  auth: 'user',
  async handler() {
    throw disabled()
  },
})

/** Validation tokens for adding a 3PID, registering or resetting a password by e-mail or SMS: none are sent. */
export const requestToken = defineRoute({
  method: 'POST',
  url: ['account/3pid', 'register', 'account/password'].flatMap((p) => [...cs(`/${p}/email/requestToken`), ...cs(`/${p}/msisdn/requestToken`)]),
  auth: 'none',
  async handler() {
    throw new MatrixError('M_THREEPID_MEDIUM_NOT_SUPPORTED', 'This server does not send verification e-mail or SMS', 400)
  },
})
