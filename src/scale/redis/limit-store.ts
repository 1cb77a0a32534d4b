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
 *   Each answers the generation of the counters it counted in (usage-ledger.ts), and rejects with
 *   `unseeded` while Redis has none (it came back empty and is not reseeded yet).
 * - `generation` / `claimSeeding` / `seed` / `finishSeeding` (new): the reseed, by one instance at
 *   a time. `load` and `takeDirty` have no counterpart: the usage lives in Redis, and the database
 *   learns of it from each instance's share as before.
 *
 * Nothing is retried here. A call rejects with `RedisUnavailableError` (down, open, timeout, late)
 * and the caller decides whether to fail open or closed. An admission whose answer arrives after
 * its call timed out is undone, so a request refused for being slow is not counted either.
 */
import { gcraTake, type GcraResult } from '../../gateway/access/limits/gcra.ts'
import type { LimitStore, PeriodUsage, QuotaLimits, QuotaVerdict } from '../../gateway/access/limits/store.ts'
import { randomToken } from '../../lib/crypto.ts'
import { RedisUnavailableError, type CallOptions, type LuaScript, type Redis } from './client.ts'
import { GCRA_ADJUST, GCRA_TAKE, LIMIT_SCRIPTS, QUOTA_READ, QUOTA_RESERVE, QUOTA_SEED, QUOTA_SETTLE, SEED_ABANDON, SEED_CLAIM, SEED_FINISH, SLOT_ACQUIRE, SLOT_RENEW } from './limit-scripts.ts'

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

export class RedisLimitStore implements Omit<AsyncLimitStore, 'addUsage'> {
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

  async reserveQuota(keyId: string, periodStart: number, tokens: number, limits: QuotaLimits, costUsd = 0, periodEnd?: number): Promise<QuotaVerdict & { generation: number }> {
    const bound = (n: number | null, f: (n: number) => string) => (n === null ? '' : f(n))
    const keys = [this.quotaKey(keyId, periodStart), this.generationKey()]
    const args = [int(tokens), nano(costUsd), bound(limits.requests, int), bound(limits.tokens, int), bound(limits.budgetUsd, nano), this.expireAt(periodStart, periodEnd)]
    const reply = await this.admit(QUOTA_RESERVE, keys, args, () =>
      this.settleQuota(keyId, periodStart, { requests: -1, tokens: -tokens, costUsd: -costUsd }, periodEnd, '', UNDO),
    )
    const [verdict, generation] = [reply[0], Number(reply[1])]
    if (verdict === 'unseeded') throw new RedisUnavailableError('unseeded')
    if (verdict === 'ok') return { allowed: true, generation }
    if (verdict === 'requests' || verdict === 'tokens' || verdict === 'budget') return { allowed: false, exceeded: verdict, generation }
    throw new Error(`quota-reserve answered ${verdict}`)
  }

  /** Adds usage; with `generation`, only to counters of that generation (a sync). The generation it counted in. */
  addUsage(keyId: string, periodStart: number, usage: PeriodUsage, periodEnd?: number, generation?: number): Promise<number> {
    return this.settleQuota(keyId, periodStart, usage, periodEnd, generation === undefined ? '' : String(generation))
  }

  async usage(keyId: string, periodStart: number): Promise<PeriodUsage> {
    const reply = (await this.redis.evalScript(QUOTA_READ, [this.quotaKey(keyId, periodStart), this.generationKey()], [])) as string[]
    if (reply[0] !== 'ok') throw new RedisUnavailableError('unseeded')
    return { requests: Number(reply[1]), tokens: Number(reply[2]), costUsd: Number(reply[3]) / NANO_USD }
  }

  /** The generation of the quota counters, or null when Redis has none (it came back empty). */
  async generation(): Promise<number | null> {
    const value = (await this.redis.send('GET', [this.generationKey()])) as string | null
    return value === null ? null : Number(value)
  }

  /**
   * Takes the seeding lock (for `lockMs`) while Redis has no generation: a token to seed with, the
   * generation when another instance has seeded meanwhile, or null while another one seeds.
   */
  async claimSeeding(lockMs = 15_000): Promise<{ token: string } | { generation: number } | null> {
    const token = randomToken(12)
    const reply = (await this.redis.evalScript(SEED_CLAIM, [this.generationKey(), this.seedLockKey()], [token, String(lockMs)])) as string[]
    if (reply[0] === 'seeding') return { token }
    if (reply[0] === 'seeded') return { generation: Number(reply[1]) }
    return null
  }

  /** Sets a period's usage from the database; false once the lock is lost (nothing applied). */
  async seed(token: string, keyId: string, periodStart: number, usage: PeriodUsage, periodEnd?: number): Promise<boolean> {
    const args = [token, int(usage.requests), int(usage.tokens), nano(usage.costUsd), this.expireAt(periodStart, periodEnd)]
    return (await this.redis.evalScript(QUOTA_SEED, [this.quotaKey(keyId, periodStart), this.seedLockKey()], args)) === 1
  }

  /** Gives the lock back after a seed that failed (if it is still this token's). */
  async abandonSeeding(token: string): Promise<void> {
    await this.redis.evalScript(SEED_ABANDON, [this.seedLockKey()], [token])
  }

  /** Ends a seed: the counters are of `generation` from now on. False once the lock is lost. */
  async finishSeeding(token: string, generation: number): Promise<boolean> {
    return (await this.redis.evalScript(SEED_FINISH, [this.generationKey(), this.seedLockKey()], [token, String(generation)])) === 1
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

  private async settleQuota(keyId: string, periodStart: number, usage: PeriodUsage, periodEnd: number | undefined, generation: string, options?: CallOptions): Promise<number> {
    const keys = [this.quotaKey(keyId, periodStart), this.generationKey()]
    const args = [int(usage.requests), int(usage.tokens), nano(usage.costUsd), this.expireAt(periodStart, periodEnd), generation]
    const reply = (await this.redis.evalScript(QUOTA_SETTLE, keys, args, options)) as string[]
    if (reply[0] === 'unseeded' || reply[0] === 'moved') throw new RedisUnavailableError(reply[0])
    return Number(reply[1])
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

  /** The generation of the quota counters; missing when Redis lost them. */
  private generationKey(): string {
    return `${this.prefix}quota-generation`
  }

  private seedLockKey(): string {
    return `${this.prefix}quota-seeding`
  }
}
