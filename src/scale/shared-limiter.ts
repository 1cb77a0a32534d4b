/**
 * Client-key limits counted in Redis, so that every instance sharing it enforces one rpm, tpm,
 * concurrency, quota and budget between them. The checks of an admission run at once (the client
 * pipelines them: one round trip) and whatever was taken is given back when one refuses; a settle
 * is one round trip too. When several limits bind at the same moment, a request refused by one
 * holds the others' reservation until it is given back, so parallel requests may pass slightly
 * fewer than each limit alone would let through, never more.
 *
 * While Redis cannot be reached (or a call fails), the failure policy decides: `local` counts in
 * this instance's memory, with the same limits (so N instances let through up to N times as
 * much), and `reject` refuses requests that have limits with a 503. Per-address and login limits
 * always fall back to memory: a per-instance count still slows abuse, and refusing logins would
 * lock admins out of the dashboard that shows the outage.
 *
 * The memory store also keeps this instance's share of the quota usage, which the state flusher
 * adds to the database as increments (each instance its own, exactly once). The ledger
 * (usage-ledger.ts) notes which of it Redis counted, so that the sync after a reconnect or a
 * reseed adds to Redis exactly what it lacks.
 */
import type { RedisFailurePolicy } from '../config/schema.ts'
import type { ClientKey } from '../gateway/access/client-keys.ts'
import { Limiter, type Admission, type AdmitOptions, type Limits, type MaybePromise, type SettleOutcome } from '../gateway/access/limits/limiter.ts'
import {
  bucketsOf, concurrencyRefusal, ipBucket, ipRefusal, LOGIN_ALL_BUCKET, loginBucket, loginRefusal, MINUTE, minuteHeaders, minuteRefusal,
  overallLoginRefusal, quotaRefusal, reservedCost, tokenDelta,
} from '../gateway/access/limits/limit-replies.ts'
import type { LimitStore, MemoryLimitStore, PeriodUsage } from '../gateway/access/limits/store.ts'
import { GatewayError } from '../gateway/errors.ts'
import { periodEnd, periodStart } from '../lib/periods.ts'
import { RedisUnavailableError } from './redis/client.ts'
import type { RedisLimitStore } from './redis/limit-store.ts'
import { UsageLedger, type UsageDelta } from './usage-ledger.ts'

export type SharedStore = Pick<RedisLimitStore, 'take' | 'adjust' | 'acquire' | 'release' | 'reserveQuota' | 'addUsage' | 'usage'>

/** Additions a sync sends at once: the client pipelines them. */
const SYNC_BATCH = 200

export interface SharedLimiterDeps {
  store: SharedStore
  redis: { readonly healthy: boolean }
  /** The limits while Redis cannot be reached, and this instance's quota usage for the database. */
  local: MemoryLimitStore
  policy: RedisFailurePolicy
  now: () => number
  /** A failed call that was not an outage (an error reply, a bug): worth a log line. */
  onError?(err: unknown): void
  /** Usage was counted that Redis lacks while it answers: a sync is due. */
  onLacking?(): void
}

/** Whether a failed call surely never reached Redis, so that sending it again cannot count it twice. */
const neverSent = (err: unknown) =>
  err instanceof RedisUnavailableError && (err.reason === 'down' || err.reason === 'open' || err.reason === 'closed' || err.reason === 'unseeded' || err.reason === 'moved')

const unavailable = () =>
  new GatewayError('limits_unavailable', "This key's limits are kept in a shared store that cannot be reached now; try again shortly.", {
    retryAfterMs: 1000,
    shouldRetry: true,
  })

export class SharedLimiter implements Limits {
  /** Client-key admissions counted in memory (`local`) or refused (`reject`) because Redis could not be used. */
  readonly counts = { fallback: 0, refused: 0 }
  /** What of this instance's quota usage Redis counted; the state flusher tells it of every save. */
  readonly ledger = new UsageLedger()
  /** The generation of Redis's counters this instance last synced with. */
  private generation: number | null = null
  private readonly fallback: Limiter

  constructor(private readonly deps: SharedLimiterDeps) {
    this.fallback = new Limiter(
      noting(deps.local, (row) => {
        this.ledger.note(row, null)
        this.lacking()
      }),
      deps.now,
    )
  }

  admitRequest(key: ClientKey): MaybePromise<Record<string, string>> {
    const rpm = key.policy.rpm
    if (rpm === null) return {}
    if (!this.deps.redis.healthy) return this.unshared(() => this.fallback.admitRequest(key))
    return this.deps.store.take(bucketsOf(key).rpm, 1, rpm, MINUTE).then(
      (r) => {
        const headers: Record<string, string> = {}
        minuteHeaders('requests', rpm, r, headers)
        if (!r.allowed) throw minuteRefusal('requests', rpm, r.retryAfterMs, headers)
        return headers
      },
      (err) => this.unshared(() => this.fallback.admitRequest(key), err),
    )
  }

  admit(key: ClientKey, estimatedTokens: number, options: AdmitOptions = {}): MaybePromise<Admission> {
    const p = key.policy
    const countsRequest = !options.requestCounted && p.rpm !== null
    // Nothing to count: no round trip, and no refusal while Redis is away.
    if (p.maxConcurrent === null && !countsRequest && p.tpm === null && p.quota === null) return this.fallback.admit(key, estimatedTokens, options)
    const local = () => this.fallback.admit(key, estimatedTokens, options)
    if (!this.deps.redis.healthy) return this.unshared(local)
    return this.admitShared(key, estimatedTokens, options).catch((err) => (err instanceof GatewayError ? Promise.reject(err) : this.unshared(local, err)))
  }

  admitIp(ip: string, rpm: number): MaybePromise<void> {
    if (!this.deps.redis.healthy) return this.fallback.admitIp(ip, rpm)
    return this.deps.store.take(ipBucket(ip), 1, rpm, MINUTE).then(
      (r) => {
        if (!r.allowed) throw ipRefusal(rpm, r.retryAfterMs)
      },
      (err) => {
        this.noteError(err)
        return this.fallback.admitIp(ip, rpm)
      },
    )
  }

  async admitLogin(ip: string | null, perAddress: number, overall: number): Promise<void> {
    const { store, redis } = this.deps
    if (!redis.healthy) return this.fallback.admitLogin(ip, perAddress, overall)
    let mine, all
    try {
      mine = await store.take(loginBucket(ip), 1, perAddress, MINUTE)
      all = mine.allowed ? await store.take(LOGIN_ALL_BUCKET, 1, overall, MINUTE) : null
    } catch (err) {
      this.noteError(err)
      return this.fallback.admitLogin(ip, perAddress, overall)
    }
    if (!mine.allowed) throw loginRefusal(perAddress, mine.retryAfterMs)
    if (all && !all.allowed) throw overallLoginRefusal(overall, all.retryAfterMs)
  }

  /** A key's usage in a period: Redis's count, or this instance's while Redis cannot be read. */
  async usage(keyId: string, start: number): Promise<PeriodUsage> {
    if (this.deps.redis.healthy) {
      try {
        return await this.deps.store.usage(keyId, start)
      } catch {}
    }
    return this.deps.local.usage(keyId, start)
  }

  /**
   * Adds to Redis (of `generation`) the usage it lacks; rejects when it could not add all of it (the
   * rest waits for the next sync), `moved` when Redis changed generation meanwhile.
   */
  async syncWith(generation: number): Promise<void> {
    const rows = this.ledger.lacking(generation)
    try {
      for (let i = 0; i < rows.length; i += SYNC_BATCH) {
        // Settled, not raced: every call of the batch is over before a failure is handled.
        const results = await Promise.allSettled(
          rows.slice(i, i + SYNC_BATCH).map(async ({ row, added }) => {
            await this.deps.store.addUsage(row.keyId, row.periodStart, row.usage, row.periodEnd, generation)
            added()
          }),
        )
        const failure = results.find((r) => r.status === 'rejected')
        if (failure) throw failure.reason
      }
      this.generation = generation
    } finally {
      this.ledger.synced()
    }
  }

  private async admitShared(key: ClientKey, estimatedTokens: number, options: AdmitOptions): Promise<Admission> {
    const { store, now } = this.deps
    const p = key.policy
    const q = p.quota
    const b = bucketsOf(key)
    const at = now()
    const period = q ? { start: periodStart(at, q.period, q.resetTime, q.timezone), end: periodEnd(at, q.period, q.resetTime, q.timezone) } : null
    const reservedUsd = reservedCost(q, options)
    const rpm = options.requestCounted ? null : p.rpm
    const tpm = p.tpm
    const [slot, requests, tokens, quota] = await Promise.allSettled([
      p.maxConcurrent !== null ? store.acquire(b.concurrent, p.maxConcurrent) : null,
      rpm !== null ? store.take(b.rpm, 1, rpm, MINUTE) : null,
      tpm !== null ? store.take(b.tpm, estimatedTokens, tpm, MINUTE) : null,
      q && period ? store.reserveQuota(key.id, period.start, estimatedTokens, { requests: q.requests, tokens: q.tokens, budgetUsd: q.budgetUsd }, reservedUsd, period.end) : null,
    ])
    const value = <T>(r: PromiseSettledResult<T>) => (r.status === 'fulfilled' ? r.value : null)
    const gotSlot = value(slot) === true
    const r = value(requests)
    const t = value(tokens)
    const v = value(quota)
    const giveBack = () => {
      if (gotSlot) this.quietly(store.release(b.concurrent))
      if (r?.allowed) this.quietly(store.adjust(b.rpm, -1, rpm!, MINUTE))
      if (t?.allowed) this.quietly(store.adjust(b.tpm, -estimatedTokens, tpm!, MINUTE))
      if (v?.allowed) this.quietly(store.addUsage(key.id, period!.start, { requests: -1, tokens: -estimatedTokens, costUsd: -reservedUsd }, period!.end))
    }
    const failed = [slot, requests, tokens, quota].find((x) => x.status === 'rejected')
    if (failed) {
      giveBack()
      throw failed.reason
    }
    const headers: Record<string, string> = {}
    if (r) minuteHeaders('requests', rpm!, r, headers)
    if (t) minuteHeaders('tokens', tpm!, t, headers)
    const refusal =
      p.maxConcurrent !== null && !gotSlot ? concurrencyRefusal(p.maxConcurrent, headers)
      : r && !r.allowed ? minuteRefusal('requests', rpm!, r.retryAfterMs, headers)
      : t && !t.allowed ? minuteRefusal('tokens', tpm!, t.retryAfterMs, headers)
      : v && !v.allowed ? quotaRefusal(q!, v.exceeded, at, headers)
      : null
    if (refusal) {
      giveBack()
      throw refusal
    }
    // This instance's share, for the database.
    if (period) {
      const usage = { requests: 1, tokens: estimatedTokens, costUsd: reservedUsd }
      this.deps.local.addUsage(key.id, period.start, usage)
      this.ledger.note({ keyId: key.id, periodStart: period.start, usage, periodEnd: period.end }, v!.generation)
      this.noteGeneration(v!.generation)
    }
    return { headers, settle: this.settler(key, estimatedTokens, reservedUsd, period, gotSlot) }
  }

  /** Made outside `admitShared`, so that a long stream keeps only what its settle needs. */
  private settler(key: ClientKey, estimatedTokens: number, reservedUsd: number, period: { start: number; end: number } | null, slot: boolean) {
    let settled = false
    return (outcome: SettleOutcome) => {
      if (settled) return
      settled = true
      const { store, local } = this.deps
      const b = bucketsOf(key)
      const tpm = key.policy.tpm
      const delta = tokenDelta(outcome, estimatedTokens)
      if (slot) this.quietly(store.release(b.concurrent))
      if (tpm !== null && delta !== 0) this.quietly(store.adjust(b.tpm, delta, tpm, MINUTE))
      const cost = outcome.costUsd - reservedUsd
      if (!period || (delta === 0 && cost === 0)) return
      const row = { keyId: key.id, periodStart: period.start, usage: { requests: 0, tokens: delta, costUsd: cost }, periodEnd: period.end }
      local.addUsage(row.keyId, row.periodStart, row.usage)
      const entry = this.ledger.note(row, undefined)
      store.addUsage(row.keyId, row.periodStart, row.usage, period.end).then(
        (generation) => {
          this.ledger.resolve(entry, generation)
          this.noteGeneration(generation)
        },
        (err) => {
          if (!neverSent(err)) {
            // It may have been counted: taken as counted, rather than risk counting it twice.
            this.noteError(err)
            return this.ledger.resolve(entry, this.generation)
          }
          this.ledger.resolve(entry, null)
          this.lacking()
        },
      )
    }
  }

  /** Redis could not be used for an admission: the policy decides. */
  private unshared<T>(admitLocally: () => T, err?: unknown): T {
    if (err !== undefined) this.noteError(err)
    if (this.deps.policy === 'reject') {
      this.counts.refused++
      throw unavailable()
    }
    this.counts.fallback++
    return admitLocally()
  }

  /** Redis counts in a generation this instance has not synced with (reseeded without a reconnect here): a sync is due. */
  private noteGeneration(generation: number): void {
    if (generation !== this.generation) this.lacking()
  }

  /** Usage Redis lacks while it answers (a failed call, counters not seeded yet): a sync adds it. */
  private lacking(): void {
    if (this.deps.redis.healthy) this.deps.onLacking?.()
  }

  /** A give-back or release that fails is not retried: a lease runs out, a minute window refills. */
  private quietly(call: Promise<unknown>): void {
    call.catch((err) => this.noteError(err))
  }

  private noteError(err: unknown): void {
    if (!(err instanceof RedisUnavailableError)) this.deps.onError?.(err)
  }
}

/** The memory store, telling `note` of every quota usage counted in it. */
function noting(store: MemoryLimitStore, note: (row: UsageDelta) => void): LimitStore {
  return {
    take: (bucket, cost, limit, periodMs, now) => store.take(bucket, cost, limit, periodMs, now),
    adjust: (bucket, delta, limit, periodMs, now) => store.adjust(bucket, delta, limit, periodMs, now),
    acquire: (bucket, max) => store.acquire(bucket, max),
    release: (bucket) => store.release(bucket),
    usage: (keyId, start) => store.usage(keyId, start),
    reserveQuota(keyId, start, tokens, limits, costUsd = 0) {
      const verdict = store.reserveQuota(keyId, start, tokens, limits, costUsd)
      if (verdict.allowed) note({ keyId, periodStart: start, usage: { requests: 1, tokens, costUsd } })
      return verdict
    },
    addUsage(keyId, start, usage) {
      store.addUsage(keyId, start, usage)
      note({ keyId, periodStart: start, usage })
    },
  }
}
