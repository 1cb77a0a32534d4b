import { describe, expect, test } from 'bun:test'
import { clientKey, OPEN_POLICY } from '../../src/gateway/access/client-keys.ts'
import { MemoryLimitStore } from '../../src/gateway/access/limits/store.ts'
import { GatewayError } from '../../src/gateway/errors.ts'
import type { KeyPolicy } from '../../src/config/schema.ts'
import { RedisUnavailableError } from '../../src/scale/redis/client.ts'
import { SharedLimiter, type SharedStore } from '../../src/scale/shared-limiter.ts'

// The shared limiter against a stand-in for Redis: a second memory store behind promises, which
// can be made to fail as Redis fails (never sent, or timed out).

const NOW = Date.UTC(2026, 0, 15, 12)
const DONE = { usage: undefined, costUsd: 0, failedBeforeUpstream: false }

function fakeRedis() {
  const shared = new MemoryLimitStore()
  const state = { healthy: true, failWith: null as RedisUnavailableError | null, calls: 0 }
  const call = <T>(f: () => T): Promise<T> => {
    state.calls++
    return state.failWith ? Promise.reject(state.failWith) : Promise.resolve().then(f)
  }
  const store: SharedStore = {
    take: (bucket, cost, limit, periodMs) => call(() => shared.take(bucket, cost, limit, periodMs, NOW)),
    adjust: (bucket, delta, limit, periodMs) => call(() => shared.adjust(bucket, delta, limit, periodMs, NOW)),
    acquire: (bucket, max) => call(() => shared.acquire(bucket, max)),
    release: (bucket) => call(() => shared.release(bucket)),
    reserveQuota: (keyId, start, tokens, limits, costUsd) => call(() => ({ ...shared.reserveQuota(keyId, start, tokens, limits, costUsd), generation: 1 })),
    addUsage: (keyId, start, usage) =>
      call(() => {
        shared.addUsage(keyId, start, usage)
        return 1
      }),
    usage: (keyId, start) => call(() => shared.usage(keyId, start)),
  }
  return { shared, state, store, redis: { get healthy() { return state.healthy } } }
}

function limiterOn(r: ReturnType<typeof fakeRedis>, policy: 'local' | 'reject' = 'local') {
  const local = new MemoryLimitStore()
  return { local, limiter: new SharedLimiter({ store: r.store, redis: r.redis, local, policy, now: () => NOW }) }
}

const key = (policy: Partial<KeyPolicy>) => clientKey('k1', 'one', { ...OPEN_POLICY, ...policy })
const quota = (over: object) => ({ period: 'day' as const, tokens: null, requests: null, budgetUsd: null, resetTime: '00:00', timezone: 'UTC', ...over })
const refused = (p: unknown) => Promise.resolve(p).then(() => null, (e) => e as GatewayError)

describe('the shared limiter', () => {
  test('a key without limits is admitted at once, with no call and no promise', () => {
    const r = fakeRedis()
    const { limiter } = limiterOn(r)
    const admission = limiter.admit(clientKey('k0', 'open', OPEN_POLICY), 10)
    expect(admission instanceof Promise).toBe(false)
    expect(limiter.admitRequest(clientKey('k0', 'open', OPEN_POLICY))).toEqual({})
    expect(r.state.calls).toBe(0)
  })

  test('a refusal by one check gives back what the others took', async () => {
    const r = fakeRedis()
    const { limiter } = limiterOn(r)
    const k = key({ maxConcurrent: 5, tpm: 1_000, quota: quota({ requests: 1 }) })
    ;(await limiter.admit(k, 10)).settle(DONE)
    const error = await refused(limiter.admit(k, 10))
    expect(error?.code).toBe('quota_exceeded')
    await Bun.sleep(0)
    // The slot and the 10 tokens of the refused request are back; only the first request's tokens count.
    expect(r.shared.acquire('conc:k1', 1)).toBe(true)
    expect(r.shared.take('tpm:k1', 990, 1_000, 60_000, NOW).allowed).toBe(true)
  })

  test('while Redis is unhealthy, `local` counts in memory and `reject` answers limits_unavailable', async () => {
    const r = fakeRedis()
    r.state.healthy = false
    const k = key({ rpm: 2 })
    const local = limiterOn(r, 'local').limiter
    expect(local.admitRequest(k) instanceof Promise).toBe(false)
    local.admitRequest(k)
    expect(() => local.admitRequest(k)).toThrow(GatewayError)
    expect(local.counts.fallback).toBe(3)
    const reject = limiterOn(r, 'reject').limiter
    const error = (() => {
      try {
        reject.admitRequest(k)
      } catch (e) {
        return e as GatewayError
      }
    })()
    expect(error?.code).toBe('limits_unavailable')
    expect(error?.status).toBe(503)
    expect(reject.counts.refused).toBe(1)
    expect(r.state.calls).toBe(0)
  })

  test('a call that fails falls back for that request; per-address limits fall back whatever the policy', async () => {
    const r = fakeRedis()
    r.state.failWith = new RedisUnavailableError('timeout')
    const { limiter } = limiterOn(r, 'reject')
    expect((await refused(limiter.admit(key({ maxConcurrent: 1 }), 10)))?.code).toBe('limits_unavailable')
    await limiter.admitIp('192.0.2.1', 1)
    expect((await refused(limiter.admitIp('192.0.2.1', 1)))?.code).toBe('rate_limited')
  })

  test('usage Redis did not hear of is added by the sync, once; what Redis counted is not added', async () => {
    const r = fakeRedis()
    const { limiter, local } = limiterOn(r)
    const k = key({ quota: quota({ requests: 100 }) })
    r.state.healthy = false
    const offline = await limiter.admit(k, 10)
    expect(r.shared.usage('k1', startOfDay()).requests).toBe(0)
    // This instance's share is in memory for the database either way.
    expect(local.usage('k1', startOfDay())).toMatchObject({ requests: 1, tokens: 10 })
    r.state.healthy = true
    await limiter.syncWith(1)
    expect(r.shared.usage('k1', startOfDay())).toMatchObject({ requests: 1, tokens: 10 })
    await limiter.syncWith(1)
    expect(r.shared.usage('k1', startOfDay())).toMatchObject({ requests: 1, tokens: 10 })
    // The settle of an admission counted here is counted here too, and the sync it asks for adds it.
    offline.settle({ usage: { promptTokens: 30, completionTokens: 5, cachedTokens: 0, reasoningTokens: 0 }, costUsd: 0, failedBeforeUpstream: false })
    expect(local.usage('k1', startOfDay())).toMatchObject({ requests: 1, tokens: 35 })
    await limiter.syncWith(1)
    expect(r.shared.usage('k1', startOfDay())).toMatchObject({ requests: 1, tokens: 35 })
    // An admission through Redis, once synced: counted there, and never added again.
    ;(await limiter.admit(k, 10)).settle(DONE)
    await Bun.sleep(0)
    await limiter.syncWith(1)
    expect(r.shared.usage('k1', startOfDay())).toMatchObject({ requests: 2, tokens: 45 })
  })

  test('a settle that never reached Redis is added by the next sync, and asks for one', async () => {
    const r = fakeRedis()
    const local = new MemoryLimitStore()
    let asked = 0
    const limiter = new SharedLimiter({ store: r.store, redis: r.redis, local, policy: 'local', now: () => NOW, onLacking: () => asked++ })
    // Before its first sync, an answer of any generation asks for one.
    ;(await limiter.admit(key({ quota: quota({ tokens: 1_000 }) }), 10)).settle(DONE)
    expect(asked).toBeGreaterThanOrEqual(1)
    await limiter.syncWith(1)
    asked = 0
    const admission = await limiter.admit(key({ quota: quota({ tokens: 1_000 }) }), 10)
    expect(asked).toBe(0)
    r.state.failWith = new RedisUnavailableError('down')
    admission.settle({ usage: { promptTokens: 20, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0 }, costUsd: 0, failedBeforeUpstream: false })
    await Bun.sleep(0)
    expect(asked).toBe(1)
    expect(r.shared.usage('k1', startOfDay()).tokens).toBe(20)
    r.state.failWith = null
    await limiter.syncWith(1)
    expect(r.shared.usage('k1', startOfDay()).tokens).toBe(30)
  })
})

function startOfDay(): number {
  return Date.UTC(2026, 0, 15)
}
