import { describe, expect, test } from 'bun:test'
import { KeyPool } from '../../src/gateway/routing/key-pool.ts'
import { parseDuration, readRetryAfter } from '../../src/providers/limit-headers.ts'
import { anthropicAdapter } from '../../src/providers/anthropic/index.ts'
import { openaiAdapter } from '../../src/providers/openai/index.ts'

const h = (init: Record<string, string>) => new Headers(init)

describe('rate-limit headers', () => {
  test('OpenAI durations', () => {
    expect(parseDuration('12ms')).toBe(12)
    expect(parseDuration('1s')).toBe(1000)
    expect(parseDuration('6m0s')).toBe(360_000)
    expect(parseDuration('1h2m3.5s')).toBe(3_723_500)
    expect(parseDuration('soon')).toBeNull()
  })

  test('OpenAI and Anthropic windows, each read by its provider type', () => {
    const now = 1_000_000
    const openai = openaiAdapter.readLimits(
      h({ 'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': '499', 'x-ratelimit-reset-requests': '120ms', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' }),
      now,
    )
    expect(openai.requests).toEqual({ limit: 500, remaining: 499, resetAt: now + 120 })
    expect(openai.tokens).toEqual({ limit: null, remaining: 0, resetAt: now + 360_000 })
    const anthropic = anthropicAdapter.readLimits(
      h({ 'anthropic-ratelimit-requests-limit': '50', 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': '2026-01-01T00:00:10Z' }),
      now,
    )
    expect(anthropic.requests).toEqual({ limit: 50, remaining: 0, resetAt: Date.parse('2026-01-01T00:00:10Z') })
    // One vendor's headers mean nothing to the other's reader.
    expect(anthropicAdapter.readLimits(h({ 'x-ratelimit-remaining-requests': '0' }), now).requests).toBeNull()
  })

  test('retry-after-ms wins over retry-after; both seconds and dates work', () => {
    expect(readRetryAfter(h({ 'retry-after-ms': '250', 'retry-after': '9' }), 0)).toBe(250)
    expect(readRetryAfter(h({ 'retry-after': '3' }), 0)).toBe(3000)
    expect(readRetryAfter(h({ 'retry-after': new Date(60_000).toUTCString() }), 0)).toBe(60_000)
    expect(readRetryAfter(h({}), 0)).toBeNull()
  })
})

describe('key selection', () => {
  test('least recently used first; a cooling key is skipped until its time', () => {
    const pool = new KeyPool(['a', 'b'])
    const first = pool.pick(0)
    expect(first.kind === 'key' && first.state.key).toBe('a')
    pool.rateLimited((first as any).state, h({ 'retry-after': '10' }), 0, 'limit')
    const picks = [1, 2, 3].map((t) => pool.pick(t)).map((p) => (p.kind === 'key' ? p.state.key : p.kind))
    expect(picks).toEqual(['b', 'b', 'b'])
    const later = pool.pick(10_001)
    expect(later.kind === 'key' && later.state.key).toBe('a')
  })

  test('without a hint the cooldown grows exponentially, and a success resets it', () => {
    const pool = new KeyPool(['a'])
    const s = pool.states[0]!
    expect(pool.rateLimited(s, h({}), 0, 'x')).toBe(1000)
    expect(pool.rateLimited(s, h({}), 0, 'x')).toBe(2000)
    expect(pool.rateLimited(s, h({}), 0, 'x')).toBe(4000)
    pool.succeeded(s, h({}), 0)
    expect(pool.rateLimited(s, h({}), 0, 'x')).toBe(1000)
  })

  test('all cooling: says when the first frees up; all disabled: says so', () => {
    const pool = new KeyPool(['a', 'b'])
    pool.rateLimited(pool.states[0]!, h({ 'retry-after': '5' }), 0, 'x')
    pool.rateLimited(pool.states[1]!, h({ 'retry-after': '2' }), 0, 'x')
    expect(pool.pick(100)).toEqual({ kind: 'cooling', until: 2000 })
    pool.disable(pool.states[0]!, 'revoked', 0)
    pool.disable(pool.states[1]!, 'revoked', 0)
    expect(pool.pick(100)).toEqual({ kind: 'disabled' })
    expect(pool.counts(100)).toEqual({ total: 2, usable: 0, cooling: 0, disabled: 2 })
  })

  test('a preferred (sticky) key is chosen while usable', () => {
    const pool = new KeyPool(['a', 'b', 'c'])
    const fp = pool.states[2]!.fingerprint
    for (let i = 0; i < 3; i++) {
      const pick = pool.pick(i, fp)
      expect(pick.kind === 'key' && pick.state.key).toBe('c')
    }
  })

  test('a reload keeps what was learned about unchanged keys', () => {
    const before = new KeyPool(['a', 'b'])
    before.disable(before.states[0]!, 'revoked', 0)
    const after = new KeyPool(['a', 'c'], before)
    expect(after.states.map((s) => [s.key, s.disabled !== null])).toEqual([['a', true], ['c', false]])
  })
})
