// Time is read through a Clock so domain code can be driven by tests that need a fixed "now".
export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }
