/**
 * The limit store for several gateways sharing one Redis: the calls of `LimitStore`, each
 * returning a Promise, each one round trip to a script of limit-scripts.ts. How they map:
 *
 * - `take` / `adjust`: the same arguments and GCRA semantics; `now` is accepted and ignored,
 *   Redis's clock decides, so that instances with skewed clocks share one timeline.
 * - `acquire` / `release`: the same booleans. A slot is a lease with an expiry, renewed while this
 *   instance holds it (every `leaseMs / 3`), so a crashed instance's slots free themselves after
 *   `leaseMs`. `release` gives back one of the leases this instance holds on that bucket.
 * - `reserveQuota` / `addUsage` / `usage`: the same, plus an optional `periodEnd` (ms) that sets
 *   when the period's hash expires (after `periodMarginMs` more); without it, 32 days from the start.
 * - `reseed` / `markSeeded` (new): after Redis came back empty, set the current periods' usage from
 *   the database checkpoint, then mark Redis as seeded. `load` and `takeDirty` have no counterpart:
 *   the usage lives in Redis, and the database learns of it from the usage log as before.
 *
 * Nothing is retried here. A call rejects with `RedisUnavailableError` (down, open, timeout, late)
 * and the caller decides whether to fail open or closed. An admission whose answer arrives after
 * its call timed out is undone, so a request refused for being slow is not counted either.
 */
import { gcraTake, type GcraResult } from '../../gateway/access/limits/gcra.ts'
import type { LimitStore, PeriodUsage, QuotaLimits, QuotaVerdict } from '../../gateway/access/limits/store.ts'
import { randomToken } from '../../lib/crypto.ts'
import { RedisUnavailableError, type CallOptions, type LuaScript, type Redis } from './client.ts'
import { GCRA_ADJUST, GCRA_TAKE, LIMIT_SCRIPTS, QUOTA_RESEED, QUOTA_RESERVE, QUOTA_SETTLE, SLOT_ACQUIRE, SLOT_RENEW } from './limit-scripts.ts'

/** `LimitStore`, with every answer a Promise. */
export type AsyncLimitStore = {
  [K in keyof LimitStore]: (...args: Parameters<LimitStore[K]>) => Promise<ReturnType<LimitStore[K]>>
}

export interface RedisLimitStoreOptions {
  /** Put before every key, so that several deployments can share a Redis. */
  prefix?: string
  /** How long a concurrency slot outlives the last renewal of its instance. */
  leaseMs?: number
  /** How long a period's usage is kept after the period ended (late settles, clock skew). */
  periodMarginMs?: number
  /** Names this instance's leases; random by default. */
  instanceId?: string
}

const NANO_USD = 1e9
const MAX_PERIOD_MS = 32 * 86_400_000
/** Leases renewed in one script call, so that one call never holds Redis for long. */
const RENEW_BATCH = 500

const nano = (usd: number) => String(Math.round(usd * NANO_USD))
/** Undoing a late admission must not wait for the breaker that its lateness opened. */
const UNDO: CallOptions = { bypassBreaker: true }
const int = (n: number) => String(Math.round(n))

export class RedisLimitStore implements AsyncLimitStore {
  private readonly prefix: string
  private readonly leaseMs: number
  private readonly periodMarginMs: number
  private readonly instanceId: string
  /** Per bucket, the leases this instance holds. */
  private readonly held = new Map<string, string[]>()
  private leases = 0
  private readonly renewTimer: ReturnType<typeof setInterval>
  private readonly unwatch: () => void

  constructor(
    private readonly redis: Redis,
    options: RedisLimitStoreOptions = {},
  ) {
    this.prefix = options.prefix ?? 'sluice:'
    this.leaseMs = options.leaseMs ?? 60_000
    this.periodMarginMs = options.periodMarginMs ?? 3_600_000
    this.instanceId = options.instanceId ?? randomToken(12)
    redis.load(LIMIT_SCRIPTS)
    const renew = () => void this.renewLeases().catch(() => {})
    this.renewTimer = setInterval(renew, Math.max(1, Math.floor(this.leaseMs / 3)))
    this.renewTimer.unref()
    // A Redis that restarted empty has lost the leases of requests still running here.
    this.unwatch = redis.watch({ resync: renew })
  }

  async take(bucket: string, cost: number, limit: number, periodMs: number, _now?: number): Promise<GcraResult> {
    const reply = await this.admit(GCRA_TAKE, [this.rateKey(bucket)], [String(cost), String(limit), String(periodMs)], () =>
      this.moveBucket(bucket, -cost, limit, periodMs, UNDO),
    )
    const allowed = reply[0] === 'ok'
    const result = gcraTake(Number(reply[1]), cost, limit, periodMs, Number(reply[2]))
    return { ...result, allowed }
  }

  adjust(bucket: string, delta: number, limit: number, periodMs: number, _now?: number): Promise<void> {
    return this.moveBucket(bucket, delta, limit, periodMs)
  }

  async acquire(bucket: string, max: number): Promise<boolean> {
    const lease = `${this.instanceId}:${++this.leases}`
    const key = this.slotKey(bucket)
    const reply = await this.admit(SLOT_ACQUIRE, [key], [String(max), lease, String(this.leaseMs)], () => this.redis.send('ZREM', [key, lease], UNDO))
    if (reply[0] !== 'ok') return false
    const mine = this.held.get(bucket)
    if (mine) mine.push(lease)
    else this.held.set(bucket, [lease])
    return true
  }

  async release(bucket: string): Promise<void> {
    const mine = this.held.get(bucket)
    const lease = mine?.pop()
    if (!mine || lease === undefined) return
    if (mine.length === 0) this.held.delete(bucket)
    // Forgotten here first: if Redis does not hear of it, the lease runs out instead of being renewed.
    await this.redis.send('ZREM', [this.slotKey(bucket), lease])
  }

  async reserveQuota(keyId: string, periodStart: number, tokens: number, limits: QuotaLimits, costUsd = 0, periodEnd?: number): Promise<QuotaVerdict> {
    const bound = (n: number | null, f: (n: number) => string) => (n === null ? '' : f(n))
    const keys = [this.quotaKey(keyId, periodStart), this.seededKey()]
    const args = [int(tokens), nano(costUsd), bound(limits.requests, int), bound(limits.tokens, int), bound(limits.budgetUsd, nano), this.expireAt(periodStart, periodEnd)]
    const reply = await this.admit(QUOTA_RESERVE, keys, args, () =>
      this.settleQuota(keyId, periodStart, { requests: -1, tokens: -tokens, costUsd: -costUsd }, periodEnd, UNDO),
    )
    const verdict = reply[0]
    if (verdict === 'ok') return { allowed: true }
    if (verdict === 'requests' || verdict === 'tokens' || verdict === 'budget') return { allowed: false, exceeded: verdict }
    throw new Error(`quota-reserve answered ${verdict}`)
  }

  addUsage(keyId: string, periodStart: number, usage: PeriodUsage, periodEnd?: number): Promise<void> {
    return this.settleQuota(keyId, periodStart, usage, periodEnd)
  }

  async usage(keyId: string, periodStart: number): Promise<PeriodUsage> {
    const [requests, tokens, cost] = (await this.redis.send('HMGET', [this.quotaKey(keyId, periodStart), 'requests', 'tokens', 'cost'])) as Array<string | null>
    return { requests: Number(requests ?? 0), tokens: Number(tokens ?? 0), costUsd: Number(cost ?? 0) / NANO_USD }
  }

  /**
   * Sets a period's usage from the database, where Redis has none (it restarted empty); usage
   * that requests added since the restart is kept and the checkpoint added to it. Live usage is
   * left alone. Whether it applied.
   */
  async reseed(keyId: string, periodStart: number, usage: PeriodUsage, periodEnd?: number): Promise<boolean> {
    const args = [int(usage.requests), int(usage.tokens), nano(usage.costUsd), this.expireAt(periodStart, periodEnd)]
    return (await this.redis.evalScript(QUOTA_RESEED, [this.quotaKey(keyId, periodStart)], args)) === 1
  }

  /** After a full reseed: periods created from now on are live ones, never seeded again. */
  async markSeeded(): Promise<void> {
    await this.redis.send('SET', [this.seededKey(), '1'])
  }

  /** Extends every lease this instance holds, and puts back the ones Redis lost. */
  async renewLeases(): Promise<void> {
    const keys: string[] = []
    const ids: string[] = []
    for (const [bucket, leases] of this.held) {
      for (const lease of leases) {
        keys.push(this.slotKey(bucket))
        ids.push(lease)
      }
    }
    for (let i = 0; i < keys.length; i += RENEW_BATCH) {
      await this.redis.evalScript(SLOT_RENEW, keys.slice(i, i + RENEW_BATCH), [String(this.leaseMs), ...ids.slice(i, i + RENEW_BATCH)])
    }
  }

  /** How many concurrency slots this instance holds, over all buckets. */
  get heldSlots(): number {
    let n = 0
    for (const leases of this.held.values()) n += leases.length
    return n
  }

  close(): void {
    clearInterval(this.renewTimer)
    this.unwatch()
  }

  /** Runs an admitting script with the deadline; undoes an admission whose answer came too late. */
  private async admit(script: LuaScript, keys: string[], args: string[], undo: () => Promise<unknown>): Promise<string[]> {
    const reply = (await this.redis.evalScript(script, keys, [...args, String(this.redis.deadline())], {
      onLateReply: (late) => {
        if (Array.isArray(late) && late[0] === 'ok') undo().catch(() => {})
      },
    })) as string[]
    if (reply[0] === 'late') throw new RedisUnavailableError('late')
    return reply
  }

  private async moveBucket(bucket: string, delta: number, limit: number, periodMs: number, options?: CallOptions): Promise<void> {
    await this.redis.evalScript(GCRA_ADJUST, [this.rateKey(bucket)], [String(delta), String(limit), String(periodMs)], options)
  }

  private async settleQuota(keyId: string, periodStart: number, usage: PeriodUsage, periodEnd: number | undefined, options?: CallOptions): Promise<void> {
    const keys = [this.quotaKey(keyId, periodStart), this.seededKey()]
    await this.redis.evalScript(QUOTA_SETTLE, keys, [int(usage.requests), int(usage.tokens), nano(usage.costUsd), this.expireAt(periodStart, periodEnd)], options)
  }

  private expireAt(periodStart: number, periodEnd: number | undefined): string {
    return String(Math.ceil((periodEnd ?? periodStart + MAX_PERIOD_MS) + this.periodMarginMs))
  }

  private rateKey(bucket: string): string {
    return `${this.prefix}rate:${bucket}`
  }

  private slotKey(bucket: string): string {
    return `${this.prefix}slots:${bucket}`
  }

  private quotaKey(keyId: string, periodStart: number): string {
    return `${this.prefix}quota:${keyId}:${periodStart}`
  }

  private seededKey(): string {
    return `${this.prefix}seeded`
  }
}
