import { describe, expect, test } from 'bun:test'
import { clientKey, OPEN_POLICY } from '../../src/gateway/access/client-keys.ts'
import { GatewayError } from '../../src/gateway/errors.ts'
import { Limiter } from '../../src/gateway/access/limits/limiter.ts'
import { MemoryLimitStore } from '../../src/gateway/access/limits/store.ts'
import { checkRequest, conversationKey, parseJsonObject } from '../../src/gateway/request-body.ts'
import { addressUnit } from '../../src/lib/cidr.ts'
import { clip, overBytes } from '../../src/lib/clip.ts'
import { exceedsDepth } from '../../src/lib/json-depth.ts'

const nested = (n: number) => '['.repeat(n) + ']'.repeat(n)

function refusal(f: () => unknown): GatewayError {
  try {
    f()
  } catch (err) {
    if (err instanceof GatewayError) return err
    throw err
  }
  throw new Error('expected a refusal')
}

describe('JSON depth', () => {
  test('128 levels pass, 129 do not, and a million levels are counted without recursion', () => {
    expect(exceedsDepth(JSON.parse(nested(128)), 128)).toBe(false)
    expect(exceedsDepth(JSON.parse(nested(129)), 128)).toBe(true)
    expect(exceedsDepth(JSON.parse(nested(1_000_000)), 128)).toBe(true)
    expect(exceedsDepth({ a: [{ b: { c: [1, 'x', null] } }] }, 5)).toBe(false)
    expect(exceedsDepth({ a: [{ b: { c: [1, 'x', null] } }] }, 4)).toBe(true)
  })

  test('a body nested past the limit is a 400 before anything walks it', () => {
    const body = new TextEncoder().encode(`{"model":"m","messages":${nested(100_000)}}`)
    const err = refusal(() => parseJsonObject(body))
    expect(err.status).toBe(400)
    expect(err.message).toContain('deeper than 128')
  })
})

describe('client strings', () => {
  test('a model id over 256 bytes is a 400 that repeats only a short prefix', () => {
    expect(checkRequest({ model: 'm'.repeat(256), messages: [] }, 'chat').model.length).toBe(256)
    const err = refusal(() => checkRequest({ model: 'm'.repeat(10_000_000), messages: [] }, 'chat'))
    expect(err.status).toBe(400)
    expect(err.details.param).toBe('model')
    expect(err.message.length).toBeLessThan(200)
    // Counted in bytes: 100 three-byte characters are 300 bytes.
    expect(refusal(() => checkRequest({ model: '€'.repeat(100), messages: [] }, 'chat')).status).toBe(400)
  })

  test('a long user or session id becomes a fixed-size conversation key', () => {
    expect(conversationKey({ user: 'u'.repeat(1_000_000) }, null).length).toBeLessThan(100)
    expect(conversationKey({}, 's'.repeat(1_000_000)).length).toBeLessThan(100)
    expect(conversationKey({ user: 'alice' }, null)).toBe('user:alice')
  })

  test('clip keeps short text and cuts long text with its length', () => {
    expect(clip('abc', 5)).toBe('abc')
    expect(clip('abcdefgh', 3)).toBe('abc… (8 characters)')
    expect([overBytes('a'.repeat(256), 256), overBytes('a'.repeat(257), 256), overBytes('é'.repeat(200), 256)]).toEqual([false, true, true])
  })
})

describe('per-address buckets', () => {
  test('idle buckets are swept: 200,000 addresses leave at most the sweep threshold behind', () => {
    let now = 1_000_000
    const store = new MemoryLimitStore()
    const limiter = new Limiter(store, () => now)
    for (let i = 0; i < 200_000; i++) {
      limiter.admitIp(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 60)
      now += 1
    }
    expect(store.bucketCount).toBeLessThanOrEqual(10_000)
  })

  test('a sweep keeps every bucket that still limits, and a large map shrinks once a minute has passed', () => {
    let now = 0
    const store = new MemoryLimitStore()
    const limiter = new Limiter(store, () => now)
    // One address at its limit, then a burst of new ones within a second.
    for (let i = 0; i < 3; i++) limiter.admitIp('192.0.2.1', 3)
    for (let i = 0; i < 30_000; i++) limiter.admitIp(`2001:db8:${i.toString(16)}::1`, 1)
    expect(() => limiter.admitIp('192.0.2.1', 3)).toThrow(GatewayError)
    expect(store.bucketCount).toBeGreaterThan(10_000)
    now += 120_000
    limiter.admitIp('198.51.100.7', 60)
    expect(store.bucketCount).toBeLessThan(10)
  })

  test('IPv6 addresses count per /64, IPv4-mapped ones as the IPv4 address', () => {
    expect(addressUnit('2001:db8:1:2::1')).toBe(addressUnit('2001:db8:1:2:ffff:ffff:ffff:ffff'))
    expect(addressUnit('2001:db8:1:2::1')).not.toBe(addressUnit('2001:db8:1:3::1'))
    expect(addressUnit('::ffff:192.0.2.1')).toBe('192.0.2.1')
    expect(addressUnit('192.0.2.1')).toBe('192.0.2.1')
    expect(addressUnit('not an address')).toBe('not an address')
    const limiter = new Limiter(new MemoryLimitStore(), () => 0)
    for (let i = 0; i < 5; i++) limiter.admitIp(`2001:db8:1:2::${i + 1}`, 5)
    expect(() => limiter.admitIp('2001:db8:1:2::99', 5)).toThrow(GatewayError)
  })

  test('logins are throttled per address, per /64, and over all addresses', () => {
    const limiter = new Limiter(new MemoryLimitStore(), () => 0)
    for (let i = 0; i < 10; i++) limiter.admitLogin(`2001:db8:0:1::${i.toString(16)}`, 10, 60)
    expect(() => limiter.admitLogin('2001:db8:0:1::abcd', 10, 60)).toThrow(GatewayError)
    // Fifty more attempts from fifty addresses reach the overall cap of sixty.
    for (let i = 0; i < 50; i++) limiter.admitLogin(`198.51.100.${i}`, 10, 60)
    const err = refusal(() => limiter.admitLogin('203.0.113.1', 10, 60))
    expect(err.status).toBe(429)
    expect(err.message).toContain('over all addresses')
  })
})

describe('budgets and rpm at admission', () => {
  const quota = { period: 'day' as const, requests: null, tokens: null, budgetUsd: 0.001, resetTime: '00:00', timezone: 'UTC' }

  test('an estimated cost is reserved: parallel requests stop while spent and reserved reach the budget', () => {
    const store = new MemoryLimitStore()
    const limiter = new Limiter(store, () => 0)
    const k = clientKey('b', 'b', { ...OPEN_POLICY, quota })
    const a = limiter.admit(k, 10, { estimatedCostUsd: 0.0006 })
    const b = limiter.admit(k, 10, { estimatedCostUsd: 0.0006 })
    expect(() => limiter.admit(k, 10, { estimatedCostUsd: 0.0006 })).toThrow(GatewayError)
    a.settle({ usage: undefined, costUsd: 0.0002, failedBeforeUpstream: false })
    b.settle({ usage: undefined, costUsd: 0, failedBeforeUpstream: true })
    // What remains is what was really spent.
    expect(store.usage('b', 0).costUsd).toBeCloseTo(0.0002, 12)
    limiter.admit(k, 10, { estimatedCostUsd: 0.0006 })
  })

  test('a request counted at the edge is not counted again at admission', () => {
    const store = new MemoryLimitStore()
    const limiter = new Limiter(store, () => 0)
    const k = clientKey('r', 'r', { ...OPEN_POLICY, rpm: 2 })
    const headers = limiter.admitRequest(k)
    expect(headers['x-ratelimit-remaining-requests']).toBe('1')
    limiter.admit(k, 1, { requestCounted: true })
    limiter.admitRequest(k)
    expect(() => limiter.admitRequest(k)).toThrow(GatewayError)
  })
})
