import { gcraAdjust, gcraTake, type GcraResult } from './gcra.ts'

/** Usage of one key in one quota period. */
export interface PeriodUsage {
  requests: number
  tokens: number
  costUsd: number
}

/** Adds an increment to a running sum (no clamping: either may be negative). */
export function sumInto(to: PeriodUsage, from: PeriodUsage): void {
  to.requests += from.requests
  to.tokens += from.tokens
  to.costUsd += from.costUsd
}

export interface QuotaLimits {
  requests: number | null
  tokens: number | null
  budgetUsd: number | null
}

export type QuotaVerdict = { allowed: true } | { allowed: false; exceeded: 'requests' | 'tokens' | 'budget' }

/**
 * Where limit state lives. Every check-and-reserve is one call, so it is atomic in this process;
 * a shared store (Redis, a database) can implement the same calls for several gateways.
 */
export interface LimitStore {
  take(bucket: string, cost: number, limit: number, periodMs: number, now: number): GcraResult
  adjust(bucket: string, delta: number, limit: number, periodMs: number, now: number): void
  acquire(bucket: string, max: number): boolean
  release(bucket: string): void
  /**
   * Reserves one request, `tokens` and an estimated `costUsd` against a key's quota for a period,
   * if they fit. The budget admits while what is spent and reserved is below it, so it is
   * overshot by at most the estimate of the request that crossed it.
   */
  reserveQuota(keyId: string, periodStart: number, tokens: number, limits: QuotaLimits, costUsd?: number): QuotaVerdict
  /** Settles a reservation: `tokens` and `costUsd` are the difference to what was reserved. */
  addUsage(keyId: string, periodStart: number, usage: PeriodUsage): void
  usage(keyId: string, periodStart: number): PeriodUsage
}

/** A store whose quota usage the server seeds from the database and writes back as increments. */
export interface CountedLimitStore extends LimitStore {
  /** Seeds a key's usage for its current period (from the database, at start). */
  load(keyId: string, periodStart: number, usage: PeriodUsage): void
  /** What this process added since the last call, as increments for the database. */
  takeDirty(): Array<{ keyId: string; periodStart: number; usage: PeriodUsage }>
}

/** Below this many buckets nothing is swept. */
const SWEEP_FLOOR = 10_000
/** A large map is swept at least this often, so that it shrinks back once a burst of new addresses is over. */
const SWEEP_EVERY_MS = 60_000

/**
 * The single-process store. Quota usage is loaded from and flushed to the database around it.
 * A bucket whose theoretical arrival time has passed is the same as no bucket, so idle buckets
 * (one per client address that ever called) are swept: whenever the map has doubled since the
 * last sweep, which keeps the cost per insert constant, and once a minute while it is large.
 */
export class MemoryLimitStore implements CountedLimitStore {
  private buckets = new Map<string, number>()
  private sweepAtSize = SWEEP_FLOOR
  private lastSweep = -Infinity
  private concurrency = new Map<string, number>()
  /** Per key: its current period's usage, and how much of it is already in the database. */
  private periods = new Map<string, { periodStart: number; usage: PeriodUsage; saved: PeriodUsage }>()
  /** Keys whose usage changed since the last flush. */
  readonly dirty = new Set<string>()

  take(bucket: string, cost: number, limit: number, periodMs: number, now: number): GcraResult {
    const result = gcraTake(this.buckets.get(bucket) ?? now, cost, limit, periodMs, now)
    if (result.allowed) this.set(bucket, result.tat, now)
    return result
  }

  adjust(bucket: string, delta: number, limit: number, periodMs: number, now: number): void {
    this.set(bucket, gcraAdjust(this.buckets.get(bucket) ?? now, delta, limit, periodMs, now), now)
  }

  /** How many rate buckets are held (idle ones until the next sweep). */
  get bucketCount(): number {
    return this.buckets.size
  }

  private set(bucket: string, tat: number, now: number): void {
    this.buckets.set(bucket, tat)
    const size = this.buckets.size
    if (size >= this.sweepAtSize || (size > SWEEP_FLOOR && now - this.lastSweep >= SWEEP_EVERY_MS)) this.sweep(now)
  }

  /** Drops every bucket that is full again: its next take would start from `now` anyway. */
  sweep(now: number): void {
    for (const [bucket, tat] of this.buckets) if (tat <= now) this.buckets.delete(bucket)
    this.lastSweep = now
    this.sweepAtSize = Math.max(SWEEP_FLOOR, this.buckets.size * 2)
  }

  acquire(bucket: string, max: number): boolean {
    const n = this.concurrency.get(bucket) ?? 0
    if (n >= max) return false
    this.concurrency.set(bucket, n + 1)
    return true
  }

  release(bucket: string): void {
    const n = (this.concurrency.get(bucket) ?? 1) - 1
    if (n <= 0) this.concurrency.delete(bucket)
    else this.concurrency.set(bucket, n)
  }

  reserveQuota(keyId: string, periodStart: number, tokens: number, limits: QuotaLimits, costUsd = 0): QuotaVerdict {
    const usage = this.current(keyId, periodStart)
    if (limits.requests !== null && usage.requests + 1 > limits.requests) return { allowed: false, exceeded: 'requests' }
    if (limits.tokens !== null && usage.tokens + tokens > limits.tokens) return { allowed: false, exceeded: 'tokens' }
    if (limits.budgetUsd !== null && usage.costUsd >= limits.budgetUsd) return { allowed: false, exceeded: 'budget' }
    usage.requests += 1
    usage.tokens += tokens
    usage.costUsd += costUsd
    this.dirty.add(keyId)
    return { allowed: true }
  }

  addUsage(keyId: string, periodStart: number, delta: PeriodUsage): void {
    const usage = this.current(keyId, periodStart)
    usage.requests += delta.requests
    usage.tokens = Math.max(0, usage.tokens + delta.tokens)
    usage.costUsd = Math.max(0, usage.costUsd + delta.costUsd)
    this.dirty.add(keyId)
  }

  usage(keyId: string, periodStart: number): PeriodUsage {
    return { ...this.current(keyId, periodStart) }
  }

  /** Seeds a key's usage for its current period (from the database, at start). */
  load(keyId: string, periodStart: number, usage: PeriodUsage): void {
    const entry = this.periods.get(keyId)
    if (!entry || entry.periodStart <= periodStart) this.periods.set(keyId, { periodStart, usage: { ...usage }, saved: { ...usage } })
  }

  /**
   * What to add to the database: each dirty key's usage since the last take, as increments. Never
   * absolute values: two processes on one database each add theirs, and neither overwrites the other.
   */
  takeDirty(): Array<{ keyId: string; periodStart: number; usage: PeriodUsage }> {
    const rows: Array<{ keyId: string; periodStart: number; usage: PeriodUsage }> = []
    for (const keyId of this.dirty) {
      const entry = this.periods.get(keyId)!
      const delta = { requests: entry.usage.requests - entry.saved.requests, tokens: entry.usage.tokens - entry.saved.tokens, costUsd: entry.usage.costUsd - entry.saved.costUsd }
      entry.saved = { ...entry.usage }
      if (delta.requests !== 0 || delta.tokens !== 0 || delta.costUsd !== 0) rows.push({ keyId, periodStart: entry.periodStart, usage: delta })
    }
    this.dirty.clear()
    return rows
  }

  private current(keyId: string, periodStart: number): PeriodUsage {
    const entry = this.periods.get(keyId)
    if (entry && entry.periodStart === periodStart) return entry.usage
    // A new period begins with nothing used.
    const fresh = { periodStart, usage: { requests: 0, tokens: 0, costUsd: 0 }, saved: { requests: 0, tokens: 0, costUsd: 0 } }
    if (!entry || entry.periodStart < periodStart) {
      this.periods.set(keyId, fresh)
      return fresh.usage
    }
    return fresh.usage
  }
}
