import { describe, expect, test } from 'bun:test'
import pino from 'pino'
import { diffConfigs } from '../../src/config/diff.ts'
import { loadConfig, parseConfigText } from '../../src/config/load.ts'
import { backoffDelay } from '../../src/gateway/upstream/backoff.ts'
import { ModelCatalog } from '../../src/gateway/routing/catalog.ts'
import { CircuitBreaker } from '../../src/gateway/routing/circuit-breaker.ts'
import { Router } from '../../src/gateway/routing/router.ts'
import { anthropicAdapter } from '../../src/providers/anthropic/index.ts'
import { openaiAdapter } from '../../src/providers/openai/index.ts'
import { judgeUpstreamError } from '../../src/gateway/upstream/upstream-verdict.ts'
import { provider } from '../helpers/provider-config.ts'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'

const silent = pino({ level: 'silent' })

describe('circuit breaker', () => {
  test('closed -> open after the threshold -> one probe when half-open -> closed or open again', () => {
    const b = new CircuitBreaker(2, 1000)
    b.failure(0)
    expect(b.allow(1)).toBe(true)
    b.failure(1)
    expect(b.state).toBe('open')
    expect(b.allow(500)).toBe(false)
    expect(b.allow(1001)).toBe(true)
    expect(b.state).toBe('half_open')
    expect(b.allow(1002)).toBe(false)
    b.failure(1003)
    expect(b.state).toBe('open')
    expect(b.allow(2004)).toBe(true)
    b.success()
    expect(b.state).toBe('closed')
    expect(b.allow(2005)).toBe(true)
  })
})

describe('providers serving the same model: priority, then weight', () => {
  const catalogOf = (...ps: { name: string; priority?: number; weight?: number | null }[]) =>
    new ModelCatalog(ps.map((p) => ({ ...provider(p.name, ['m']), priority: p.priority ?? 0, weight: p.weight ?? null })), silent, { breaker: { failure_threshold: 5, open_ms: 1000 } })
  const order = async (router: Router) => (await router.plan('m', () => null))!.targets.map((t) => t.provider.name)

  test('without priorities or weights, the order of the file', async () => {
    expect(await order(new Router(catalogOf({ name: 'a' }, { name: 'b' }, { name: 'c' }), [], { stickyTtlMs: 1000, now: () => 0 }))).toEqual(['a', 'b', 'c'])
  })

  test('a higher priority first; the lower ones stay as fallbacks', async () => {
    expect(await order(new Router(catalogOf({ name: 'a' }, { name: 'b', priority: 10 }, { name: 'c', priority: -1 }), [], { stickyTtlMs: 1000, now: () => 0 }))).toEqual(['b', 'a', 'c'])
  })

  test('weights share the first tries within one priority; the heavier one is the first fallback', async () => {
    let roll = 0
    const router = new Router(catalogOf({ name: 'a', weight: 1 }, { name: 'b', weight: 3 }, { name: 'c', priority: -5 }), [], { stickyTtlMs: 1000, now: () => 0, random: () => roll })
    roll = 0.1 // 0.1 × 4 = 0.4 < 1: a
    expect(await order(router)).toEqual(['a', 'b', 'c'])
    roll = 0.5 // 2 ≥ 1: b
    expect(await order(router)).toEqual(['b', 'a', 'c'])
  })
})

describe('alias strategies', () => {
  const catalog = new ModelCatalog([provider('a', ['m']), provider('b', ['m']), provider('c', ['m'])], silent, {
    breaker: { failure_threshold: 5, open_ms: 1000 },
  })
  const alias = (strategy: any, weights: number[] | null = null) => ({
    name: 'x', pattern: null, targets: ['a/m', 'b/m', 'c/m'], strategy, weights, sticky: false, fake_stream: false,
  })
  const order = async (router: Router) => (await router.plan('x', () => null))!.targets.map((t) => t.provider.name)

  test('weighted picks the first target by weight and keeps the rest as fallbacks, heaviest first', async () => {
    let roll = 0
    const router = new Router(catalog, [alias('weighted', [1, 2, 7])], { stickyTtlMs: 1000, now: () => 0, random: () => roll })
    roll = 0.05
    expect(await order(router)).toEqual(['a', 'c', 'b'])
    roll = 0.2
    expect(await order(router)).toEqual(['b', 'c', 'a'])
    roll = 0.9
    expect(await order(router)).toEqual(['c', 'b', 'a'])
  })

  test('least-latency orders by measured latency, unmeasured first', async () => {
    const router = new Router(catalog, [alias('least-latency')], { stickyTtlMs: 1000, now: () => 0 })
    router.recordLatency('a/m', 300)
    router.recordLatency('c/m', 100)
    expect(await order(router)).toEqual(['b', 'c', 'a'])
  })

  test('sticky pins expire after their time', async () => {
    let now = 0
    const sticky = { ...alias('fallback'), sticky: true }
    const router = new Router(catalog, [sticky], { stickyTtlMs: 1000, now: () => now })
    router.pin('conv', 'c/m', 'fp_1')
    expect((await router.plan('x', () => 'conv'))!.pin).toMatchObject({ label: 'c/m', fingerprint: 'fp_1' })
    expect(await order(router)).toEqual(['a', 'b', 'c'])
    now = 1001
    expect((await router.plan('x', () => 'conv'))!.pin).toBeNull()
  })
})

describe('retry decisions', () => {
  test('backoff doubles, is capped and jittered between half and full', () => {
    expect(backoffDelay(1, 100, 1000, () => 1)).toBe(100)
    expect(backoffDelay(3, 100, 1000, () => 1)).toBe(400)
    expect(backoffDelay(9, 100, 1000, () => 1)).toBe(1000)
    expect(backoffDelay(3, 100, 1000, () => 0)).toBe(200)
  })

  test('which upstream errors blame the key, the provider, or the request', () => {
    const v = (status: number, text = '{}', adapter = openaiAdapter) => judgeUpstreamError('p', status, text, 'secret', null, adapter.deadKey).action
    expect(v(429)).toBe('rate_limited')
    expect(v(429, '{"error":{"code":"insufficient_quota"}}')).toBe('key_dead')
    expect(v(401)).toBe('key_dead')
    expect(v(403)).toBe('key_dead')
    expect(v(400, '{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}', anthropicAdapter)).toBe('key_dead')
    expect(v(500)).toBe('backoff')
    expect(v(529)).toBe('backoff')
    expect(v(400)).toBe('final')
    expect(v(404)).toBe('final')
  })
})

describe('config validation of the routing sections', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-routing-'))
  const load = (text: string) => {
    const path = join(dir, `c${Math.random()}.yaml`)
    writeFileSync(path, text)
    return loadConfig({ config: path }, {}, dir)
  }
  const base = 'providers: [{ name: a, type: openai, base_url: "http://127.0.0.1:9/v1", keys: [k] }]\n'

  test('alias targets must name configured providers; weights must match', () => {
    expect(() => load(base + 'aliases: [{ name: s, targets: [nope/m, a/m], strategy: weighted, weights: [1] }]')).toThrow(
      /aliases\[0\]\.targets\[0\].*\n.*aliases\[0\]\.weights: expected one weight per target/,
    )
  })

  test('model patterns must be valid regular expressions', () => {
    expect(() => load('providers: [{ name: a, type: openai, keys: [k], models: ["/gpt-(/"] }]')).toThrow('providers[0].models[0]: not a valid regular expression')
  })

  test('an unknown strategy is named', () => {
    expect(() => parseConfigText(base + 'aliases: [{ name: s, targets: [a/m], strategy: random }]', 'x.yaml', {})).toThrow(
      'aliases[0].strategy: expected one of: fallback, round-robin, weighted, least-latency',
    )
  })

  test('a reload diff names providers, aliases and key fingerprints, never keys', () => {
    const before = load(base)
    const after = load('providers: [{ name: a, type: openai, base_url: "http://127.0.0.1:9/v1", keys: [k, k2] }, { name: b, type: openai, keys: [z] }]\naliases: [{ name: s, targets: [a/m] }]\nserver: { port: 9999 }\n')
    const changes = diffConfigs(before, after)
    expect(changes.providers).toEqual({ added: ['b'], removed: [], modified: ['a'] })
    expect(changes.aliases.added).toEqual(['s'])
    expect(changes.restart_required).toEqual(['server.port'])
    expect(JSON.stringify(changes)).not.toMatch(/"k2"|:k2|"z"/)
  })
})
