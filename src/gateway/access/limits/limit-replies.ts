/**
 * What every limits store shares: bucket names, the `x-ratelimit-*` headers, the refusals worded
 * once, and the arithmetic of reservations (what a budget reserves, what a settle moves).
 */
import type { QuotaPolicy } from '../../../config/schema.ts'
import { addressUnit } from '../../../lib/cidr.ts'
import { periodEnd } from '../../../lib/periods.ts'
import type { ClientKey } from '../client-keys.ts'
import { GatewayError } from '../../errors.ts'
import type { GcraResult } from './gcra.ts'
import type { AdmitOptions, SettleOutcome } from './limiter.ts'

export const MINUTE = 60_000

const HEADER_NAMES = {
  requests: { limit: 'x-ratelimit-limit-requests', remaining: 'x-ratelimit-remaining-requests', reset: 'x-ratelimit-reset-requests' },
  tokens: { limit: 'x-ratelimit-limit-tokens', remaining: 'x-ratelimit-remaining-tokens', reset: 'x-ratelimit-reset-tokens' },
}

// A key's bucket names, made once per key object rather than concatenated on every request.
const bucketNames = new WeakMap<ClientKey, { concurrent: string; rpm: string; tpm: string }>()
export function bucketsOf(key: ClientKey): { concurrent: string; rpm: string; tpm: string } {
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

/** Puts a per-minute window's state in the response headers. */
export function minuteHeaders(unit: 'requests' | 'tokens', limit: number, r: GcraResult, headers: Record<string, string>): void {
  const names = HEADER_NAMES[unit]
  headers[names.limit] = String(limit)
  headers[names.remaining] = String(r.remaining)
  headers[names.reset] = formatReset(r.resetMs)
}

export const minuteRefusal = (unit: 'requests' | 'tokens', limit: number, retryAfterMs: number, headers: Record<string, string>) =>
  tooMany('rate_limited', `Rate limit reached for ${unit}: ${limit} per minute for this key.`, retryAfterMs, headers)

export const concurrencyRefusal = (max: number, headers: Record<string, string>) =>
  tooMany('rate_limited', `Too many concurrent requests for this key (limit ${max}).`, 1000, headers)

export function quotaRefusal(q: QuotaPolicy, exceeded: 'requests' | 'tokens' | 'budget', now: number, headers: Record<string, string>): GatewayError {
  const resetsIn = periodEnd(now, q.period, q.resetTime, q.timezone) - now
  const what = exceeded === 'budget' ? `budget of $${q.budgetUsd}` : `${exceeded} quota`
  return tooMany('quota_exceeded', `This key has used its ${q.period === 'day' ? 'daily' : 'monthly'} ${what}; it resets in ${formatReset(resetsIn)}.`, resetsIn, headers)
}

export const ipRefusal = (rpm: number, retryAfterMs: number) => tooMany('rate_limited', `Too many requests from your address (${rpm} per minute).`, retryAfterMs, {})

export const loginRefusal = (perAddress: number, retryAfterMs: number) =>
  tooMany('rate_limited', `Too many login attempts from your address (${perAddress} per minute).`, retryAfterMs, {})

export const overallLoginRefusal = (overall: number, retryAfterMs: number) =>
  tooMany('rate_limited', `Too many login attempts (${overall} per minute over all addresses).`, retryAfterMs, {})

/** The bucket of a per-address limit: per /64 for IPv6. */
export const ipBucket = (ip: string) => `ip:${addressUnit(ip)}`
export const loginBucket = (ip: string | null) => `login:${ip === null ? 'unknown' : addressUnit(ip)}`
export const LOGIN_ALL_BUCKET = 'login-all'

/**
 * The tokens a settle moves a reservation by: nothing reached an upstream, the estimate is given
 * back; otherwise what the upstream reported replaces the estimate; with no report it stands.
 */
export function tokenDelta(outcome: SettleOutcome, estimatedTokens: number): number {
  const actual = outcome.failedBeforeUpstream ? 0 : outcome.usage ? outcome.usage.promptTokens + outcome.usage.completionTokens : estimatedTokens
  return actual - estimatedTokens
}

/** What a budget reserves at admission: the request's most expensive estimate, only where a budget can refuse it. */
export const reservedCost = (q: QuotaPolicy | null, options: AdmitOptions) => (q?.budgetUsd !== null && q?.budgetUsd !== undefined ? (options.estimatedCostUsd ?? 0) : 0)
