/** Time source, passed in so that time-based logic can be tested without sleeping. */
export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }
