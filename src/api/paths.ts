/** A Client-Server API path under v3 and its r0 alias, which older clients still use. */
export function cs(path: string): string[] {
  return [`/_matrix/client/v3${path}`, `/_matrix/client/r0${path}`]
}
