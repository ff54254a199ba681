// The CAs outbound federation trusts: Node's default store, the operating system's, and the operator's
// extra CA file (federation.ca_file). Verification is never turned off.
import { readFileSync } from 'node:fs'
import { createSecureContext, getCACertificates, type SecureContext } from 'node:tls'

export function federationSecureContext(caFile: string | null): SecureContext {
  const ca = [...getCACertificates('default'), ...getCACertificates('system')]
  if (caFile !== null) {
    let pem: string
    try {
      pem = readFileSync(caFile, 'utf8')
    } catch (err) {
      throw new Error(`federation.ca_file: cannot read ${caFile}: ${(err as Error).message}`)
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`federation.ca_file: ${caFile} holds no PEM certificate`)
    ca.push(pem)
  }
  return createSecureContext({ ca })
}
