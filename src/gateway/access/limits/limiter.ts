import { periodStart } from '../../../lib/periods.ts'
import type { ClientKey } from '../client-keys.ts'
import type { Usage } from '../../usage.ts'
import {
  bucketsOf, concurrencyRefusal, ipBucket, ipRefusal, LOGIN_ALL_BUCKET, loginBucket, loginRefusal, MINUTE, minuteHeaders, minuteRefusal,
  overallLoginRefusal, quotaRefusal, reservedCost, tokenDelta,
} from './limit-replies.ts'
import type { LimitStore } from './store.ts'

export { formatReset } from './limit-replies.ts'

export interface SettleOutcome {
  usage: Usage | undefined
  costUsd: number
  failedBeforeUpstream: boolean
}

/** A request let through; settle it exactly once when it ends. */
export interface Admission {
  /** `x-ratelimit-*` headers for the response, so clients can pace themselves. */
  headers: Record<string, string>
  settle(outcome: SettleOutcome): void
}

/** A value now, or later: the in-memory limits answer at once, shared ones after a round trip. */
export type MaybePromise<T> = T | Promise<T>

/**
 * What the edge and the gateway ask of the limits. Callers await only a promise: on the in-memory
 * path no promise (and no microtask) is made per request.
 */
export interface Limits {
  admitRequest(key: ClientKey): MaybePromise<Record<string, string>>
  admit(key: ClientKey, estimatedTokens: number, options?: AdmitOptions): MaybePromise<Admission>
  admitIp(ip: string, rpm: number): MaybePromise<void>
  admitLogin(ip: string | null, perAddress: number, overall: number): MaybePromise<void>
}

export interface AdmitOptions {
  /** The request was already counted against the key's rpm (by `admitRequest`). */
  requestCounted?: boolean
  /** What the request may cost at most, reserved against a budget until it is settled. */
  estimatedCostUsd?: number
}

/**
 * Per-key rate limits (requests and tokens per minute, concurrency) and quotas (requests, tokens
 * and USD per day or month). Each check reserves at once, so parallel requests cannot overshoot;
 * token and cost reservations are estimates, settled with the upstream's reported usage afterwards.
 */
export class Limiter implements Limits {
  constructor(
    private readonly store: LimitStore,
    private readonly now: () => number,
  ) {}

  /**
   * Counts one request against the key's rpm as soon as the key is known, before its body is read
   * or its model looked up, so requests refused later (unknown model, bad body) are counted too.
   * Returns the `x-ratelimit-*-requests` headers.
   */
  admitRequest(key: ClientKey): Record<string, string> {
    const headers: Record<string, string> = {}
    this.takeMinute(key, 'requests', 1, headers, () => {})
    return headers
  }

  private takeMinute(key: ClientKey, unit: 'requests' | 'tokens', cost: number, headers: Record<string, string>, rollback: () => void): (() => void) | null {
    const limit = unit === 'requests' ? key.policy.rpm : key.policy.tpm
    if (limit === null) return null
    const buckets = bucketsOf(key)
    const bucket = unit === 'requests' ? buckets.rpm : buckets.tpm
    const now = this.now()
    const r = this.store.take(bucket, cost, limit, MINUTE, now)
    minuteHeaders(unit, limit, r, headers)
    if (!r.allowed) {
      rollback()
      throw minuteRefusal(unit, limit, r.retryAfterMs, headers)
    }
    return () => this.store.adjust(bucket, -cost, limit, MINUTE, now)
  }

  admit(key: ClientKey, estimatedTokens: number, options: AdmitOptions = {}): Admission {
    const p = key.policy
    const now = this.now()
    const buckets = bucketsOf(key)
    const headers: Record<string, string> = {}
    const undo: Array<() => void> = []
    const rollback = () => undo.reverse().forEach((f) => f())

    if (p.maxConcurrent !== null) {
      if (!this.store.acquire(buckets.concurrent, p.maxConcurrent)) throw concurrencyRefusal(p.maxConcurrent, headers)
      undo.push(() => this.store.release(buckets.concurrent))
    }
    // Requests and tokens per minute: the same window, counted in different units.
    const perMinute = (unit: 'requests' | 'tokens', cost: number) => {
      const giveBack = this.takeMinute(key, unit, cost, headers, rollback)
      if (giveBack) undo.push(giveBack)
    }
    if (!options.requestCounted) perMinute('requests', 1)
    perMinute('tokens', estimatedTokens)
    const q = p.quota
    const start = q ? periodStart(now, q.period, q.resetTime, q.timezone) : 0
    const reservedUsd = reservedCost(q, options)
    if (q) {
      const verdict = this.store.reserveQuota(key.id, start, estimatedTokens, { requests: q.requests, tokens: q.tokens, budgetUsd: q.budgetUsd }, reservedUsd)
      if (!verdict.allowed) {
        rollback()
        throw quotaRefusal(q, verdict.exceeded, now, headers)
      }
    }

    let settled = false
    return {
      headers,
      settle: (outcome) => {
        if (settled) return
        settled = true
        if (p.maxConcurrent !== null) this.store.release(buckets.concurrent)
        const delta = tokenDelta(outcome, estimatedTokens)
        const at = this.now()
        if (p.tpm !== null && delta !== 0) this.store.adjust(buckets.tpm, delta, p.tpm, MINUTE, at)
        if (q) this.store.addUsage(key.id, start, { requests: 0, tokens: delta, costUsd: outcome.costUsd - reservedUsd })
      },
    }
  }

  /** The optional per-address limit (per /64 for IPv6), checked before authentication. */
  admitIp(ip: string, rpm: number): void {
    const r = this.store.take(ipBucket(ip), 1, rpm, MINUTE, this.now())
    if (!r.allowed) throw ipRefusal(rpm, r.retryAfterMs)
  }

  /**
   * Login attempts: a few a minute per address (per /64 for IPv6), and a cap over all addresses,
   * so that guessing from many addresses is no faster than from a handful.
   */
  admitLogin(ip: string | null, perAddress: number, overall: number): void {
    const now = this.now()
    const mine = this.store.take(loginBucket(ip), 1, perAddress, MINUTE, now)
    if (!mine.allowed) throw loginRefusal(perAddress, mine.retryAfterMs)
    const all = this.store.take(LOGIN_ALL_BUCKET, 1, overall, MINUTE, now)
    if (!all.allowed) throw overallLoginRefusal(overall, all.retryAfterMs)
  }
}

/** A cheap up-front token estimate: about four bytes of request per token. */
export function estimateTokens(bodyBytes: number): number {
  return Math.max(1, Math.ceil(bodyBytes / 4))
}
