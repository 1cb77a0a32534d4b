/**
 * The generic cell rate algorithm: a rate of `limit` per `periodMs`, kept as one number per bucket
 * (the theoretical arrival time). It allows a full period's worth at once from idle and then a
 * steady rate, with no burst at window edges. Costs may be any size (tokens).
 */
export interface GcraResult {
  allowed: boolean
  /** The bucket's new theoretical arrival time (unchanged when denied). */
  tat: number
  /** How many units could still be taken now. */
  remaining: number
  /** When denied: how long until the cost would fit. */
  retryAfterMs: number
  /** How long until the bucket is full again. */
  resetMs: number
}

export function gcraTake(tat: number, cost: number, limit: number, periodMs: number, now: number): GcraResult {
  const interval = periodMs / limit
  const base = Math.max(tat, now)
  const next = base + cost * interval
  // A cost larger than the whole limit still passes from an idle bucket, or it could never pass.
  const allowed = next - now <= periodMs || base === now
  const after = allowed ? next : base
  return {
    allowed,
    tat: after,
    remaining: Math.max(0, Math.floor((periodMs - (after - now)) / interval)),
    retryAfterMs: allowed ? 0 : Math.ceil(next - now - periodMs),
    resetMs: Math.max(0, Math.ceil(after - now)),
  }
}

/** Moves a bucket by `delta` units (negative gives back), after the real cost is known. */
export function gcraAdjust(tat: number, delta: number, limit: number, periodMs: number, now: number): number {
  const next = Math.max(tat, now) + (delta * periodMs) / limit
  return Math.max(next, now)
}
