import { addressUnit } from '../../../lib/cidr.ts'
import { periodEnd, periodStart } from '../../../lib/periods.ts'
import type { ClientKey } from '../client-keys.ts'
import { GatewayError } from '../../errors.ts'
import type { Usage } from '../../usage.ts'
import type { LimitStore } from './store.ts'

const MINUTE = 60_000

/** A request let through; settle it exactly once when it ends. */
export interface Admission {
  /** `x-ratelimit-*` headers for the response, so clients can pace themselves. */
  headers: Record<string, string>
  settle(outcome: { usage: Usage | undefined; costUsd: number; failedBeforeUpstream: boolean }): void
}

const HEADER_NAMES = {
  requests: { limit: 'x-ratelimit-limit-requests', remaining: 'x-ratelimit-remaining-requests', reset: 'x-ratelimit-reset-requests' },
  tokens: { limit: 'x-ratelimit-limit-tokens', remaining: 'x-ratelimit-remaining-tokens', reset: 'x-ratelimit-reset-tokens' },
}

// A key's bucket names, made once per key object rather than concatenated on every request.
const bucketNames = new WeakMap<ClientKey, { concurrent: string; rpm: string; tpm: string }>()
function bucketsOf(key: ClientKey): { concurrent: string; rpm: string; tpm: string } {
  let names = bucketNames.get(key)
  if (!names) bucketNames.set(key, (names = { concurrent: `conc:${key.id}`, rpm: `rpm:${key.id}`, tpm: `tpm:${key.id}` }))
  return names
}

/** OpenAI's reset format: `250ms`, `1s`, `6m0s`. */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)}ms`
  const s = Math.ceil(ms / 1000)
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`
}

function tooMany(code: 'rate_limited' | 'quota_exceeded', message: string, retryAfterMs: number | undefined, headers: Record<string, string>) {
  return new GatewayError(code, message, {
    retryAfterMs,
    shouldRetry: retryAfterMs !== undefined && retryAfterMs <= 60_000,
    headers,
  })
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
export class Limiter {
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
    const names = HEADER_NAMES[unit]
    headers[names.limit] = String(limit)
    headers[names.remaining] = String(r.remaining)
    headers[names.reset] = formatReset(r.resetMs)
    if (!r.allowed) {
      rollback()
      throw tooMany('rate_limited', `Rate limit reached for ${unit}: ${limit} per minute for this key.`, r.retryAfterMs, headers)
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
      if (!this.store.acquire(buckets.concurrent, p.maxConcurrent)) {
        throw tooMany('rate_limited', `Too many concurrent requests for this key (limit ${p.maxConcurrent}).`, 1000, headers)
      }
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
    // Reserved only where a budget can refuse it.
    const reservedUsd = q?.budgetUsd !== null && q?.budgetUsd !== undefined ? (options.estimatedCostUsd ?? 0) : 0
    if (q) {
      const verdict = this.store.reserveQuota(key.id, start, estimatedTokens, { requests: q.requests, tokens: q.tokens, budgetUsd: q.budgetUsd }, reservedUsd)
      if (!verdict.allowed) {
        rollback()
        const resetsIn = periodEnd(now, q.period, q.resetTime, q.timezone) - now
        const what = verdict.exceeded === 'budget' ? `budget of $${q.budgetUsd}` : `${verdict.exceeded} quota`
        throw tooMany('quota_exceeded', `This key has used its ${q.period === 'day' ? 'daily' : 'monthly'} ${what}; it resets in ${formatReset(resetsIn)}.`, resetsIn, headers)
      }
    }

    let settled = false
    return {
      headers,
      settle: ({ usage, costUsd, failedBeforeUpstream }) => {
        if (settled) return
        settled = true
        if (p.maxConcurrent !== null) this.store.release(buckets.concurrent)
        // Nothing reached an upstream: the token estimate is given back. Otherwise what the
        // upstream reported replaces the estimate; with no report the estimate stands.
        const actual = failedBeforeUpstream ? 0 : usage ? usage.promptTokens + usage.completionTokens : estimatedTokens
        const delta = actual - estimatedTokens
        const at = this.now()
        if (p.tpm !== null && delta !== 0) this.store.adjust(buckets.tpm, delta, p.tpm, MINUTE, at)
        if (q) this.store.addUsage(key.id, start, { requests: 0, tokens: delta, costUsd: costUsd - reservedUsd })
      },
    }
  }

  /** The optional per-address limit (per /64 for IPv6), checked before authentication. */
  admitIp(ip: string, rpm: number): void {
    const r = this.store.take(`ip:${addressUnit(ip)}`, 1, rpm, MINUTE, this.now())
    if (!r.allowed) {
      throw tooMany('rate_limited', `Too many requests from your address (${rpm} per minute).`, r.retryAfterMs, {})
    }
  }

  /**
   * Login attempts: a few a minute per address (per /64 for IPv6), and a cap over all addresses,
   * so that guessing from many addresses is no faster than from a handful.
   */
  admitLogin(ip: string | null, perAddress: number, overall: number): void {
    const now = this.now()
    const mine = this.store.take(`login:${ip === null ? 'unknown' : addressUnit(ip)}`, 1, perAddress, MINUTE, now)
    if (!mine.allowed) {
      throw tooMany('rate_limited', `Too many login attempts from your address (${perAddress} per minute).`, mine.retryAfterMs, {})
    }
    const all = this.store.take('login-all', 1, overall, MINUTE, now)
    if (!all.allowed) {
      throw tooMany('rate_limited', `Too many login attempts (${overall} per minute over all addresses).`, all.retryAfterMs, {})
    }
  }
}

/** A cheap up-front token estimate: about four bytes of request per token. */
export function estimateTokens(bodyBytes: number): number {
  return Math.max(1, Math.ceil(bodyBytes / 4))
}
