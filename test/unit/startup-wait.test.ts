// Which failures to reach the database `homestead start` waits out (the server is down, starting, full) and
// which it reports at once (TLS set up wrong; a wrong password from the URL).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mayPass } from '../../src/startup-wait.ts'

const error = (code: string | undefined, message = 'x') => Object.assign(new Error(message), code ? { code } : {})

describe('mayPass', () => {
  it('waits out a server that is down, starting up, shutting down or full, and an unknown host name', () => {
    for (const code of ['ECONNREFUSED', 'ENOENT', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', '57P03', '57P01', '53300', '08006', '3D000']) {
      assert.equal(mayPass(error(code), false), true, code)
    }
    assert.equal(mayPass(error(undefined, 'Connection terminated unexpectedly'), false), true)
  })

  it('waits out refused credentials only when the password comes from a secret or IAM', () => {
    assert.equal(mayPass(error('28P01'), true), true)
    assert.equal(mayPass(error('28000'), true), true)
    assert.equal(mayPass(error('28P01'), false), false)
  })

  it('reports TLS set up wrong at once', () => {
    for (const code of ['SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']) {
      assert.equal(mayPass(error(code), true), false, code)
    }
    assert.equal(mayPass(error(undefined, 'The server does not support SSL connections'), true), false)
  })
})
