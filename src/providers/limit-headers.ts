/** What an upstream said about one key's limits, from its response headers. */
export interface LimitWindow {
  limit: number | null
  remaining: number | null
  /** Epoch ms when the window refills; null when not said. */
  resetAt: number | null
}

export interface UpstreamLimits {
  requests: LimitWindow | null
  tokens: LimitWindow | null
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** OpenAI's reset durations: `12ms`, `1s`, `6m0s`, `1h2m3.5s`. */
export function parseDuration(text: string): number | null {
  let total = 0
  let matched = ''
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * UNITS[m[2]!]!
    matched += m[0]
  }
  return matched.length > 0 && matched.length === text.trim().length ? total : null
}

function number(value: string | null): number | null {
  if (value === null || value.trim() === '') return null
  const n = Number(value)
  return Number.isFinite(n) ? n : null
}

/** A reset given as a duration (OpenAI), seconds, or a timestamp (Anthropic, RFC 3339). */
function resetTime(value: string | null, now: number): number | null {
  if (value === null || value === '') return null
  const seconds = number(value)
  if (seconds !== null) return now + seconds * 1000
  const duration = parseDuration(value)
  if (duration !== null) return now + duration
  const at = Date.parse(value)
  return Number.isFinite(at) ? at : null
}

function window(headers: Headers, limitName: string, remainingName: string, resetName: string, now: number): LimitWindow | null {
  const l = headers.get(limitName)
  const r = headers.get(remainingName)
  const reset = headers.get(resetName)
  if (l === null && r === null && reset === null) return null
  return { limit: number(l), remaining: number(r), resetAt: resetTime(reset, now) }
}

/** The header names of one vendor's request and token windows. */
export interface LimitHeaderNames {
  requests: [limit: string, remaining: string, reset: string]
  tokens: [limit: string, remaining: string, reset: string]
}

/** A reader of one vendor's limit headers. */
export function limitReader(names: LimitHeaderNames): (headers: Headers, now: number) => UpstreamLimits {
  return (headers, now) => ({ requests: window(headers, ...names.requests, now), tokens: window(headers, ...names.tokens, now) })
}

/** How long an upstream asked us to wait: `retry-after-ms`, `retry-after` (seconds or a date). */
export function readRetryAfter(headers: Headers, now: number): number | null {
  const ms = number(headers.get('retry-after-ms'))
  if (ms !== null && ms >= 0) return ms
  const value = headers.get('retry-after')
  if (value === null) return null
  const seconds = number(value)
  if (seconds !== null) return seconds >= 0 ? seconds * 1000 : null
  const at = Date.parse(value)
  return Number.isFinite(at) ? Math.max(0, at - now) : null
}
