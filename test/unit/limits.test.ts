import { describe, expect, test } from 'bun:test'
import { clientKey, OPEN_POLICY } from '../../src/gateway/access/client-keys.ts'
import { GatewayError } from '../../src/gateway/errors.ts'
import { gcraTake } from '../../src/gateway/access/limits/gcra.ts'
import { formatReset, Limiter } from '../../src/gateway/access/limits/limiter.ts'
import { costOf } from '../../src/gateway/access/limits/pricing.ts'
import { MemoryLimitStore } from '../../src/gateway/access/limits/store.ts'

describe('GCRA', () => {
  test('a full minute at once from idle, then one every period/limit, no burst at window edges', () => {
    let tat = 0
    const results = []
    for (let i = 0; i < 4; i++) {
      const r = gcraTake(tat, 1, 3, 60_000, 0)
      if (r.allowed) tat = r.tat
      results.push([r.allowed, r.remaining])
    }
    expect(results).toEqual([[true, 2], [true, 1], [true, 0], [false, 0]])
    expect(gcraTake(tat, 1, 3, 60_000, 0).retryAfterMs).toBe(20_000)
    // At the "edge" of a minute there is no fresh window of 3: only what has dripped back.
    expect(gcraTake(tat, 1, 3, 60_000, 20_000).allowed).toBe(true)
    expect(gcraTake(tat, 2, 3, 60_000, 20_000).allowed).toBe(false)
  })

  test('a cost above the whole limit passes only from an idle bucket', () => {
    expect(gcraTake(0, 50, 30, 60_000, 1000).allowed).toBe(true)
    expect(gcraTake(2000, 50, 30, 60_000, 1000).allowed).toBe(false)
  })
})

describe('the limiter', () => {
  const key = (policy: Partial<typeof OPEN_POLICY>) => clientKey('k1', 'k', { ...OPEN_POLICY, ...policy })

  test('a refused check gives back what earlier checks reserved', () => {
    let now = 0
    const store = new MemoryLimitStore()
    const limiter = new Limiter(store, () => now)
    const k = key({ rpm: 10, quota: { period: 'day', requests: 1, tokens: null, budgetUsd: null, resetTime: '00:00', timezone: 'UTC' } })
    limiter.admit(k, 5).settle({ usage: undefined, costUsd: 0, failedBeforeUpstream: false })
    expect(() => limiter.admit(k, 5)).toThrow(GatewayError)
    // The refused request did not use up an rpm slot: 9 remain after the first.
    const r = store.take('rpm:k1', 0, 10, 60_000, now)
    expect(r.remaining).toBe(9)
  })

  test('settling replaces the token estimate with the reported usage', () => {
    const store = new MemoryLimitStore()
    const limiter = new Limiter(store, () => 0)
    const k = key({ quota: { period: 'month', requests: null, tokens: 1000, budgetUsd: null, resetTime: '00:00', timezone: 'UTC' } })
    const a = limiter.admit(k, 100)
    expect(store.usage('k1', Date.UTC(1970, 0, 1)).tokens).toBe(100)
    a.settle({ usage: { promptTokens: 30, completionTokens: 12, cachedTokens: 0, reasoningTokens: 0 }, costUsd: 0.5, failedBeforeUpstream: false })
    expect(store.usage('k1', Date.UTC(1970, 0, 1))).toEqual({ requests: 1, tokens: 42, costUsd: 0.5 })
    const b = limiter.admit(k, 100)
    b.settle({ usage: undefined, costUsd: 0, failedBeforeUpstream: true })
    expect(store.usage('k1', Date.UTC(1970, 0, 1)).tokens).toBe(42)
  })

  test('reset durations read like OpenAI\'s', () => {
    expect([formatReset(250), formatReset(1000), formatReset(59_500), formatReset(360_000)]).toEqual(['250ms', '1s', '1m0s', '6m0s'])
  })
})

describe('pricing', () => {
  test('per million tokens, cached prompt tokens at their own price, looked up by the most specific name', () => {
    const prices = { 'openai/gpt-4o': { prompt: 2.5, completion: 10, cached_prompt: 1.25 }, 'gpt-4o': { prompt: 99, completion: 99 } }
    const usage = { promptTokens: 1000, completionTokens: 500, cachedTokens: 400, reasoningTokens: 0 }
    expect(costOf(prices, ['openai/gpt-4o', 'gpt-4o'], usage)).toBeCloseTo((600 * 2.5 + 400 * 1.25 + 500 * 10) / 1e6, 12)
    expect(costOf(prices, ['other/x', 'x'], usage)).toBe(0)
  })
})
