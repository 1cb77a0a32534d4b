import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { RedisClient, type Subprocess } from 'bun'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabase } from '../../src/storage/database.ts'
import { createUsageStore } from '../../src/storage/usage-store.ts'
import { storageEngines } from '../helpers/engines.ts'
import { startGateway } from '../helpers/gateway.ts'
import { PROCESS_ADMIN_TOKEN, startProcessGateway, type ProcessGateway } from '../helpers/process-gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// Three sluice processes (and a fourth with on_failure: reject) on one redis-server that this file
// starts on a free 127.0.0.1 port and one database, in front of one mock upstream; the scenarios run
// twice, once on an embedded database file and once on a PostgreSQL database (skipped, with a line
// saying why, where PostgreSQL is absent). Parallel requests are split across the instances and
// every limit must hold exactly, as one instance would hold it. The outage tests kill and restart
// that Redis, so they come last.

const REDIS_SERVER = Bun.which('redis-server')
if (!REDIS_SERVER) console.log('redis-shared-limits: skipped, redis-server is not on PATH (Debian: apt-get install redis-server)')

/** Every request body is this long, so the gateway's estimate is 100 tokens (four bytes a token). */
const BODY_BYTES = 400
const ESTIMATE = BODY_BYTES / 4
const MINUTE_TEST_MS = 60_000
/** Redis asks for it; the URL carries it percent-encoded, and no log line may show it either way. */
const REDIS_PASSWORD = 'p@ss:w/rd#sluice-0123'

const KEYS = {
  rpm: 'sk-redis-rpm-0123456789abcdef',
  conc: 'sk-redis-conc-0123456789abcdef',
  requests: 'sk-redis-requests-0123456789abcdef',
  tokens: 'sk-redis-tokens-0123456789abcdef',
  budget: 'sk-redis-budget-0123456789abcdef',
  half: 'sk-redis-half-0123456789abcdef',
  outage: 'sk-redis-outage-0123456789abcdef',
  open: 'sk-redis-open-0123456789abcdef',
}

let redisPort = 0
let redis: Subprocess | null = null
let mock: MockUpstream
let dir: string
/** The database every instance of the current engine shares. */
let dbUrl = ''
let gateways: ProcessGateway[] = []
let rejecting: ProcessGateway
/** Requests the mock holds until the test opens the gate (so that no settle comes before every admission). */
let gate: Promise<void> = Promise.resolve()
let openGate: () => void = () => {}
const ids = new Map<string, string>()

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const p = listener.port
  listener.stop(true)
  return p
}

/** Polls `check` until it holds; fails after `ms`. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 5_000): Promise<number> {
  const t0 = performance.now()
  while (performance.now() - t0 < ms) {
    if (await Promise.resolve().then(check).catch(() => false)) return performance.now() - t0
    await Bun.sleep(20)
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`)
}

async function startRedis(): Promise<void> {
  redis = Bun.spawn([REDIS_SERVER!, '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--requirepass', REDIS_PASSWORD], { stdout: 'ignore', stderr: 'ignore' })
  const probe = new RedisClient(redisUrl(), { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: 200 })
  await waitFor('redis-server to answer', () => probe.connect().then(() => true, () => false))
  probe.close()
}

async function killRedis(): Promise<void> {
  redis?.kill('SIGKILL')
  await redis?.exited
  redis = null
}

function closeGate(): void {
  gate = new Promise<void>((resolve) => (openGate = resolve))
  // Never held for long, whatever a test does.
  const timer = setTimeout(openGate, 15_000)
  gate.then(() => clearTimeout(timer))
}

const redisUrl = () => `redis://:${encodeURIComponent(REDIS_PASSWORD)}@127.0.0.1:${redisPort}/0`

function config(onFailure: 'local' | 'reject'): object {
  const key = (name: string, extra: object = {}) => ({ name, key: KEYS[name as keyof typeof KEYS], ...extra })
  return {
    auth: {
      keys: [
        key('rpm', { rpm: 30 }),
        key('conc', { max_concurrent: 7 }),
        key('requests', { quota: { period: 'day', requests: 37 } }),
        key('tokens', { quota: { period: 'day', tokens: 1_000 } }),
        key('budget', { quota: { period: 'day', budget_usd: 1 } }),
        key('half', { quota: { period: 'day', requests: 40 } }),
        key('outage', { quota: { period: 'day', requests: 100_000 } }),
        key('open'),
      ],
    },
    // A request of 100 prompt tokens and max_tokens 100 may cost $0.20 and costs $0.10.
    prices: { m: { prompt: 1_000, completion: 1_000 } },
    providers: [
      { name: 'up', type: 'openai', base_url: mock.baseUrl, keys: ['sk-upstream-fine-0001'], models: ['m'] },
      // The first key is told to rest 30 s; one instance learning it must spare the others the 429.
      { name: 'cool', type: 'openai', base_url: mock.baseUrl, keys: ['k-429-30000-shared', 'sk-upstream-fine-0002'], models: ['c'] },
      // The first key is refused as invalid: retired on one instance, retired on all.
      { name: 'dead', type: 'openai', base_url: mock.baseUrl, keys: ['k-401-refused-shared', 'sk-upstream-fine-0003'], models: ['d'] },
    ],
    retry: { max_attempts: 2, initial_delay_ms: 0 },
    // A generous deadline: two cores run three gateways, the mock and Redis here.
    redis: { url: redisUrl(), timeout_ms: 2_000, on_failure: onFailure },
  }
}

/** A chat body of exactly BODY_BYTES bytes. */
function body(model = 'm', extra: object = {}): string {
  const base = (content: string) => JSON.stringify({ model, max_tokens: 100, messages: [{ role: 'user', content }], ...extra })
  const text = base('x'.repeat(BODY_BYTES - base('').length))
  if (text.length !== BODY_BYTES) throw new Error(`body is ${text.length} bytes`)
  return text
}

function chat(gw: ProcessGateway, key: string, options: { model?: string; path?: string; payload?: string } = {}): Promise<Response> {
  return fetch(`${gw.url}${options.path ?? '/v1/chat/completions'}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: options.payload ?? body(options.model),
  })
}

/** `n` requests at once, spread over the three instances: how many got each status. */
async function burst(n: number, key: string, onAnswer: () => void = () => {}): Promise<Record<number, number>> {
  const statuses = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      chat(gateways[i % gateways.length]!, key).then(async (r) => {
        await r.arrayBuffer()
        onAnswer()
        return r.status
      }),
    ),
  )
  const counts: Record<number, number> = {}
  for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1
  return counts
}

/**
 * A burst whose admitted requests wait at the upstream until every request was either answered
 * or admitted: no settle (or released slot) comes before the last admission decision.
 */
async function heldBurst(n: number, key: string): Promise<Record<number, number>> {
  closeGate()
  const seen = mock.requests.length
  let answered = 0
  const pending = burst(n, key, () => answered++)
  await waitFor('every request to be answered or held', () => answered + (mock.requests.length - seen) >= n, 10_000)
  openGate()
  return pending
}

async function admin(gw: ProcessGateway, path: string, init: RequestInit = {}): Promise<any> {
  const r = await fetch(`${gw.url}${path}`, { ...init, headers: { authorization: `Bearer ${PROCESS_ADMIN_TOKEN}`, 'content-type': 'application/json', ...init.headers } })
  return r.json()
}

const health = async (gw: ProcessGateway) => (await fetch(`${gw.url}/health`)).json() as Promise<any>

/** What the database holds for a key, summed over its rows (every instance adds its own increments). */
async function stored(name: string): Promise<{ requests: number; tokens: number; costUsd: number }> {
  // The instances write to the file meanwhile: a moment of lock is tried again.
  for (let tries = 0; ; tries++) {
    try {
      const database = await openDatabase(dbUrl, null)
      try {
        const rows = (await createUsageStore(database.db).since(0)).filter((r) => r.keyId === ids.get(name))
        return rows.reduce((sum, r) => ({ requests: sum.requests + r.usage.requests, tokens: sum.tokens + r.usage.tokens, costUsd: sum.costUsd + r.usage.costUsd }), { requests: 0, tokens: 0, costUsd: 0 })
      } finally {
        database.close()
      }
    } catch (err) {
      if (tries >= 20) throw err
      await Bun.sleep(50)
    }
  }
}

for (const engine of storageEngines('redis-shared-limits')) describe.skipIf(!REDIS_SERVER || engine.skip !== null)(`limits shared by three instances through Redis, on ${engine.name}`, () => {
  beforeAll(async () => {
    // A Redis, a database and instances of their own for each engine: no counter carries over.
    gateways = []
    ids.clear()
    redisPort = await freePort()
    await startRedis()
    dir = mkdtempSync(join(tmpdir(), 'sluice-redis-shared-'))
    dbUrl = await engine.url()
    mock = startMockUpstream(['m', 'c'])
    mock.handler = async (_req, reqBody, seen) => {
      if (seen.path !== '/v1/chat/completions') return Response.json({ error: { message: 'not found' } }, { status: 404 })
      if ((seen.headers.authorization ?? '').includes('k-429')) {
        return Response.json({ error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } }, { status: 429, headers: { 'retry-after-ms': '30000' } })
      }
      if ((seen.headers.authorization ?? '').includes('k-401')) return Response.json({ error: { message: 'Incorrect API key provided', code: 'invalid_api_key' } }, { status: 401 })
      await gate
      // Usage equal to the estimate: a settle moves nothing, so token counts are exact.
      return Response.json({
        id: 'chatcmpl-shared', object: 'chat.completion', created: 1700000000, model: reqBody?.model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: ESTIMATE, completion_tokens: 0, total_tokens: ESTIMATE },
      })
    }
    // One after another: each syncs the config's keys into the shared database at start.
    for (let i = 0; i < 3; i++) gateways.push(await startProcessGateway(config('local'), { dir, configFile: 'local.json', db: dbUrl }))
    rejecting = await startProcessGateway(config('reject'), { dir, configFile: 'reject.json', db: dbUrl })
    for (const k of (await admin(gateways[0]!, '/admin/api/keys')).data) ids.set(k.name, k.id)
    for (const gw of [...gateways, rejecting]) await waitFor('Redis to be up', async () => (await health(gw)).redis?.state === 'up')
  }, 60_000)

  afterAll(async () => {
    openGate()
    await Promise.all([...gateways, rejecting].filter(Boolean).map((g) => g.stop()))
    gateways = []
    mock?.stop()
    await killRedis()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  describe('200 parallel requests over three instances: each limit holds exactly', () => {
    test('requests per minute', async () => {
      const t0 = performance.now()
      const counts = await burst(200, KEYS.rpm)
      // A minute's worth at once (30), then one more every 2 s: the burst is over well within that.
      expect(performance.now() - t0).toBeLessThan(MINUTE_TEST_MS / 30)
      expect(counts).toEqual({ 200: 30, 429: 170 })
    }, 30_000)

    test('concurrency', async () => {
      expect(await heldBurst(200, KEYS.conc)).toEqual({ 200: 7, 429: 193 })
      // Every slot was given back: seven more pass.
      expect(await burst(7, KEYS.conc)).toEqual({ 200: 7 })
    }, 30_000)

    test('request quota', async () => {
      expect(await burst(200, KEYS.requests)).toEqual({ 200: 37, 429: 163 })
    }, 30_000)

    test('token quota', async () => {
      expect(await burst(200, KEYS.tokens)).toEqual({ 200: 10, 429: 190 })
    }, 30_000)

    test('budget: a hard cap across instances, settled with the real cost', async () => {
      // Each reserves $0.20 until it is settled at $0.10: held at the gate, five fit under $1.
      expect(await heldBurst(200, KEYS.budget)).toEqual({ 200: 5, 429: 195 })
      // Settled at $0.50: three more fit now ($0.50, $0.70, $0.90 spent and reserved are below $1).
      await waitFor('the settles', async () => (await admin(gateways[1]!, `/admin/api/keys/${ids.get('budget')}`)).usage?.cost_usd <= 0.5 + 1e-9)
      expect(await heldBurst(20, KEYS.budget)).toEqual({ 200: 3, 429: 17 })
    }, 30_000)

    test('every instance reports the shared usage, and the database counts it once', async () => {
      for (const gw of gateways) {
        const usage = (await admin(gw, `/admin/api/keys/${ids.get('requests')}`)).usage
        expect(usage).toMatchObject({ requests: 37, tokens: 37 * ESTIMATE })
      }
      // Each instance adds its own share every second.
      await waitFor('the database to hold the requests', async () => (await stored('requests')).requests >= 37, 5_000)
      await Bun.sleep(1_500)
      expect(await stored('requests')).toMatchObject({ requests: 37, tokens: 37 * ESTIMATE })
      expect(await stored('tokens')).toMatchObject({ requests: 10, tokens: 1_000 })
      const budget = await stored('budget')
      expect(budget.requests).toBe(8)
      expect(budget.costUsd).toBeCloseTo(0.8, 9)
    }, 30_000)
  })

  test('a client key revoked through one instance is refused by the others within a second', async () => {
    const created = await admin(gateways[0]!, '/admin/api/keys', { method: 'POST', body: JSON.stringify({ name: 'short-lived' }) })
    await waitFor('the new key on every instance', async () => (await Promise.all(gateways.map((g) => chat(g, created.key).then((r) => r.status)))).every((s) => s === 200))
    await admin(gateways[0]!, `/admin/api/keys/${created.id}`, { method: 'DELETE' })
    const waited = await waitFor('the others to refuse it', async () => (await Promise.all(gateways.slice(1).map((g) => chat(g, created.key).then((r) => r.status)))).every((s) => s === 401), 1_000)
    console.log(`redis-shared-limits: a revoked key was refused by the other instances after ${waited.toFixed(0)} ms`)
  }, 30_000)

  /** The state of a provider's first key (the one whose end is `ared`) as an instance sees it. */
  const firstKeyState = async (gw: ProcessGateway, provider: string) =>
    (await admin(gw, '/admin/api/providers')).data.find((p: any) => p.name === provider).keys_detail.find((k: any) => k.hint.endsWith('ared')).state
  const sentWith = (part: string) => mock.requests.filter((r) => (r.headers.authorization ?? '').includes(part)).length

  for (const [provider, model, part, state] of [['cool', 'c', 'k-429', 'cooling'], ['dead', 'd', 'k-401', 'disabled']] as const) {
    test(`a key ${state === 'cooling' ? 'rested after a 429' : 'retired after a 401'} on one instance is spared by the others`, async () => {
      const before = sentWith(part)
      // The first key of the pool is tried first: it is refused, the next one serves.
      expect((await chat(gateways[0]!, KEYS.open, { model })).status).toBe(200)
      expect(sentWith(part)).toBe(before + 1)
      await waitFor('the others to know', async () => (await firstKeyState(gateways[1]!, provider)) === state && (await firstKeyState(gateways[2]!, provider)) === state, 2_000)
      for (const gw of gateways.slice(1)) for (let i = 0; i < 4; i++) expect((await chat(gw, KEYS.open, { model })).status).toBe(200)
      expect(sentWith(part)).toBe(before + 1)
    }, 30_000)
  }

  test('the password in the Redis URL is never logged, even when something tries to', async () => {
    const gw = await startGateway({ redis: { url: redisUrl() }, providers: [{ name: 'up', type: 'openai', base_url: mock.baseUrl, keys: ['sk-upstream-fine-0009'], models: ['m'] }] })
    try {
      expect(((await (await fetch(`${gw.url}/health`)).json()) as any).redis).toEqual({ state: 'up', policy: 'local', fallback: false })
      gw.server.logger.warn({ err: `NOAUTH for ${redisUrl()} (${REDIS_PASSWORD})` }, 'a careless line')
      const careless = gw.logs.find((l) => l.includes('a careless line'))!
      expect(careless).toContain('[redacted]')
      for (const line of gw.logs) {
        expect(line).not.toContain(REDIS_PASSWORD)
        expect(line).not.toContain(encodeURIComponent(REDIS_PASSWORD))
      }
    } finally {
      await gw.stop()
    }
    for (const p of gateways) {
      expect(p.output()).not.toContain(REDIS_PASSWORD)
      expect(p.output()).not.toContain(encodeURIComponent(REDIS_PASSWORD))
    }
  }, 30_000)

  test('half a quota is used before Redis goes away', async () => {
    expect(await burst(20, KEYS.half)).toEqual({ 200: 20 })
    await waitFor('the database to hold it', async () => (await stored('half')).requests === 20, 5_000)
  }, 30_000)

  describe('Redis killed, then restarted empty', () => {
    test('on_failure local: requests keep being served, per instance, and /health and /metrics say so', async () => {
      // Killed mid-load: half the requests are on their way when Redis goes.
      const first = burst(30, KEYS.outage)
      await killRedis()
      expect(await first).toEqual({ 200: 30 })
      for (const gw of gateways) await waitFor('the instance to see Redis down', async () => (await health(gw)).redis?.state === 'down', 5_000)
      expect(await burst(30, KEYS.outage)).toEqual({ 200: 30 })
      const report = await health(gateways[0]!)
      expect(report.status).toBe('degraded')
      expect(report.redis).toEqual({ state: 'down', policy: 'local', fallback: true })
      const metrics = await (await fetch(`${gateways[0]!.url}/metrics`, { headers: { authorization: `Bearer ${PROCESS_ADMIN_TOKEN}` } })).text()
      expect(metrics).toContain('sluice_redis_up 0')
      // The second burst's 10 surely; of the first, those that came after the kill.
      expect(Number(/sluice_redis_fallback_admissions_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(10)
      // Logged once, at warn, for the transition; not for every request.
      for (const gw of gateways) expect(gw.output().match(/Redis unreachable/g)?.length).toBe(1)
    }, 30_000)

    test('on_failure reject: a limited key gets a 503 in each API shape, an unlimited one is served', async () => {
      await waitFor('the rejecting instance to see Redis down', async () => (await health(rejecting)).redis?.state === 'down', 5_000)
      const openai = await chat(rejecting, KEYS.rpm)
      expect(openai.status).toBe(503)
      expect(openai.headers.get('retry-after')).toBe('1')
      expect(await openai.json()).toEqual({ error: { message: expect.stringContaining('cannot be reached'), type: 'api_error', param: null, code: 'limits_unavailable' } })
      const anthropic = await chat(rejecting, KEYS.rpm, { path: '/v1/messages', payload: JSON.stringify({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }) })
      expect(anthropic.status).toBe(503)
      expect(await anthropic.json()).toMatchObject({ type: 'error', error: { type: 'overloaded_error', message: expect.stringContaining('cannot be reached') } })
      const gemini = await chat(rejecting, KEYS.requests, { path: '/v1beta/models/m:generateContent', payload: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }) })
      expect(gemini.status).toBe(503)
      expect(await gemini.json()).toMatchObject({ error: { code: 503, status: 'UNAVAILABLE', message: expect.stringContaining('cannot be reached') } })
      expect((await chat(rejecting, KEYS.open)).status).toBe(200)
      expect((await health(rejecting)).redis).toEqual({ state: 'down', policy: 'reject', fallback: false })
      expect(await (await fetch(`${rejecting.url}/metrics`, { headers: { authorization: `Bearer ${PROCESS_ADMIN_TOKEN}` } })).text()).toMatch(/sluice_redis_refused_admissions_total [1-9]/)
    }, 30_000)

    test('Redis restarted empty: counters are reseeded from the database, so half a quota stays half used', async () => {
      await startRedis()
      for (const gw of [...gateways, rejecting]) await waitFor('the instance to be shared again', async () => (await health(gw)).status === 'ok', 10_000)
      await waitFor('the reseed', async () => (await admin(gateways[2]!, `/admin/api/keys/${ids.get('half')}`)).usage?.requests === 20, 5_000)
      expect(await burst(200, KEYS.half)).toEqual({ 200: 20, 429: 180 })
      // A quota used up before the outage is still used up.
      expect(await burst(30, KEYS.requests)).toEqual({ 429: 30 })
      for (const gw of gateways) expect(gw.output()).toContain('Redis reachable again')
      // Usage of the outage, counted by each instance alone, reached the database too.
      await waitFor('the outage usage in the database', async () => (await stored('outage')).requests === 60, 5_000)
      // Nothing counted during the outage reaches the database twice once Redis is back: still 60
      // after the next saves of every instance.
      await Bun.sleep(1_200)
      expect((await stored('outage')).requests).toBe(60)
      // And Redis, reseeded by one instance while the others synced what it lacked, holds each
      // request once too: every instance reads the same 60 (before this, 72 or 80 in about a third of runs).
      for (const gw of [...gateways, rejecting]) {
        expect((await admin(gw, `/admin/api/keys/${ids.get('outage')}`)).usage?.requests).toBe(60)
      }
    }, 40_000)
  })
})
