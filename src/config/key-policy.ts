import type { Static } from '@sinclair/typebox'
import { parseCidr } from '../lib/cidr.ts'
import { isTimeZone } from '../lib/periods.ts'
import type { KeyPolicy, QuotaInput } from './schema.ts'

/** The policy fields as written in the config or sent to the admin API (snake_case). */
export interface KeyPolicyInput {
  expires_at?: string | null
  models?: string[] | null
  ips?: string[] | null
  rpm?: number | null
  tpm?: number | null
  max_concurrent?: number | null
  quota?: Static<typeof QuotaInput> | null
  metadata?: Record<string, unknown> | null
}

/** The fewest characters of an admin token or a client key written in the config. */
export const MIN_SECRET_CHARS = 20

/**
 * When a key stops working: a bare date means through the end of that day (UTC), anything else
 * is parsed as a date-time. Null when there is no expiry; NaN when the text is not a date.
 */
export function parseExpiry(text: string | null | undefined): number | null {
  if (text === null || text === undefined) return null
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const day = Date.parse(`${text}T00:00:00Z`)
    return Number.isNaN(day) ? NaN : day + 86_400_000
  }
  return Date.parse(text)
}

/** Problems the schema cannot see, each with its field path under `at`. */
export function policyProblems(input: KeyPolicyInput, at: string): string[] {
  const problems: string[] = []
  if (input.expires_at !== undefined && Number.isNaN(parseExpiry(input.expires_at))) {
    problems.push(`${at}expires_at: expected a date (YYYY-MM-DD) or a date-time, got "${input.expires_at}"`)
  }
  input.ips?.forEach((ip, i) => {
    if (!parseCidr(ip)) problems.push(`${at}ips[${i}]: expected an IP address or CIDR range, got "${ip}"`)
  })
  const tz = input.quota?.timezone
  if (tz !== undefined && !isTimeZone(tz)) problems.push(`${at}quota.timezone: expected an IANA time zone such as Europe/Berlin, got "${tz}"`)
  if (input.quota && input.quota.tokens == null && input.quota.requests == null && input.quota.budget_usd == null) {
    problems.push(`${at}quota: expected at least one of tokens, requests, budget_usd`)
  }
  return problems
}

export function toPolicy(input: KeyPolicyInput): KeyPolicy {
  const q = input.quota
  return {
    models: input.models ?? null,
    ips: input.ips ?? null,
    rpm: input.rpm ?? null,
    tpm: input.tpm ?? null,
    maxConcurrent: input.max_concurrent ?? null,
    quota: q
      ? {
          period: q.period,
          tokens: q.tokens ?? null,
          requests: q.requests ?? null,
          budgetUsd: q.budget_usd ?? null,
          resetTime: q.reset_time ?? '00:00',
          timezone: q.timezone ?? 'UTC',
        }
      : null,
  }
}
