// Password hashing with argon2id (OWASP's minimum: m=19 MiB, t=2, p=1), off the event loop.
import { hash, verify } from '@node-rs/argon2'

// algorithm 2 is Argon2id (a const enum in the package's types, which type stripping cannot inline).
const OPTIONS = { algorithm: 2 as const, memoryCost: 19456, timeCost: 2, parallelism: 1 }

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS)
}

/** Verifies a password against a stored hash; false (never an exception) for malformed hashes. */
export async function verifyPassword(stored: string | null, password: string): Promise<boolean> {
  if (!stored) return false
  try {
    return await verify(stored, password)
  } catch {
    return false
  }
}

/** A hash to verify against when the account does not exist, so timing does not reveal which accounts do. */
let dummyHash: Promise<string> | null = null
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword('homestead-timing-equaliser')
  return dummyHash
}
