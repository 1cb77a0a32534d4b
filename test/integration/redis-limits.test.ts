import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { RedisClient, type Subprocess } from 'bun'
import { MemoryLimitStore } from '../../src/gateway/access/limits/store.ts'
import { createRedis, RedisUnavailableError, type Redis, type RedisOptions } from '../../src/scale/redis/client.ts'
import { GCRA_TAKE, QUOTA_RESERVE, SLOT_ACQUIRE } from '../../src/scale/redis/limit-scripts.ts'
import { RedisLimitStore, type RedisLimitStoreOptions } from '../../src/scale/redis/limit-store.ts'

// Shared limits against a real redis-server that this file starts on a free 127.0.0.1 port. Two
// wrappers (two connections each) stand for two gateways. The outage tests kill, pause and
// restart that server, so they come last.

const REDIS_SERVER = Bun.which('redis-server')
if (!REDIS_SERVER) console.log('redis-limits: skipped, redis-server is not on PATH (Debian: apt-get install redis-server)')

const MINUTE = 60_000
const NO_LIMITS = { requests: null, tokens: null, budgetUsd: null }
/** The quota period of these tests: it began an hour ago (a period's hash expires after it ends). */
const P = Date.now() - 3_600_000

let port = 0
let server: Subprocess | null = null
let a: Redis
let b: Redis
let storeA: RedisLimitStore
let storeB: RedisLimitStore
const opened: Array<{ close(): void }> = []

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const p = listener.port
  listener.stop(true)
  return p
}

/** Polls `check` until it holds; fails after `ms`. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const until = performance.now() + ms
  while (performance.now() < until) {
    if (await check()) return
    await Bun.sleep(10)
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`)
}

async function startServer(): Promise<void> {
  server = Bun.spawn([REDIS_SERVER!, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdout: 'ignore', stderr: 'ignore' })
  const probe = new RedisClient(`redis://127.0.0.1:${port}`, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: 200 })
  await waitFor('redis-server to answer', () => probe.connect().then(() => true, () => false))
  probe.close()
}

async function killServer(): Promise<void> {
  server?.kill('SIGKILL')
  await server?.exited
  server = null
}

function wrapper(overrides: Partial<RedisOptions> = {}, clock?: { now(): number }): Redis {
  const r = createRedis(
    { url: `redis://127.0.0.1:${port}`, timeoutMs: 500, breaker: { failures: 3, coolOffMs: 100 }, reconnect: { initialMs: 20, maxMs: 200 }, pingEveryMs: 100, ...overrides },
    clock ? { clock } : {},
  )
  opened.push(r)
  return r
}

function limitStore(redis: Redis, options: RedisLimitStoreOptions = {}): RedisLimitStore {
  const s = new RedisLimitStore(redis, { prefix: 't:', leaseMs: 5_000, ...options })
  opened.push(s)
  return s
}

/** `n` calls at once, alternating between the two gateways; how many were let through. */
async function admitted(n: number, call: (store: RedisLimitStore) => Promise<boolean>): Promise<number> {
  const results = await Promise.all(Array.from({ length: n }, (_, i) => call(i % 2 === 0 ? storeA : storeB)))
  return results.filter(Boolean).length
}

/** How many of `n` calls the single-process store lets through, one after another. */
function memoryAdmits(n: number, call: (store: MemoryLimitStore) => boolean): number {
  const memory = new MemoryLimitStore()
  let allowed = 0
  for (let i = 0; i < n; i++) if (call(memory)) allowed++
  return allowed
}

const exists = async (key: string) => Number(await a.send('EXISTS', [key])) === 1
const unavailable = (e: unknown) => e instanceof RedisUnavailableError

describe.skipIf(!REDIS_SERVER)('shared limits in Redis', () => {
  beforeAll(async () => {
    port = await freePort()
    await startServer()
    a = wrapper()
    b = wrapper()
    await Promise.all([a.whenUp(5_000), b.whenUp(5_000)])
    storeA = limitStore(a)
    storeB = limitStore(b)
    // The quota counters are of a generation (seeded); see 'reseed' below for one that is not.
    const claim = (await storeA.claimSeeding()) as { token: string }
    expect(await storeA.finishSeeding(claim.token, 1)).toBe(true)
  })

  afterAll(async () => {
    for (const x of opened) x.close()
    await killServer()
  })

  describe('exact admission under 200 parallel calls from two gateways', () => {
    test('requests per minute', async () => {
      const n = await admitted(200, async (s) => (await s.take('rpm:k1', 1, 50, MINUTE)).allowed)
      expect(n).toBe(memoryAdmits(200, (m) => m.take('rpm:k1', 1, 50, MINUTE, 0).allowed))
      expect(n).toBe(50)
      const denied = await storeA.take('rpm:k1', 1, 50, MINUTE)
      expect(denied).toMatchObject({ allowed: false, remaining: 0 })
      expect(denied.retryAfterMs).toBeGreaterThan(0)
      expect(denied.retryAfterMs).toBeLessThanOrEqual(1_200)
    })

    test('tokens per minute, with the estimate settled afterwards', async () => {
      const n = await admitted(200, async (s) => (await s.take('tpm:k1', 300, 10_000, MINUTE)).allowed)
      expect(n).toBe(memoryAdmits(200, (m) => m.take('tpm:k1', 300, 10_000, MINUTE, 0).allowed))
      // Settling 3000 estimated tokens down to nothing frees ten more requests of 300.
      await storeB.adjust('tpm:k1', -3_000, 10_000, MINUTE)
      expect(await admitted(200, async (s) => (await s.take('tpm:k1', 300, 10_000, MINUTE)).allowed)).toBe(10)
    })

    test('concurrency', async () => {
      const n = await admitted(200, (s) => s.acquire('conc:k1', 7))
      expect(n).toBe(memoryAdmits(200, (m) => m.acquire('conc:k1', 7)))
      expect(n).toBe(7)
      expect(Number(await a.send('ZCARD', ['t:slots:conc:k1']))).toBe(7)
      for (const s of [storeA, storeB]) while (s.heldSlots > 0) await s.release('conc:k1')
      expect(Number(await a.send('ZCARD', ['t:slots:conc:k1']))).toBe(0)
      expect(await storeA.acquire('conc:k1', 7)).toBe(true)
      await storeA.release('conc:k1')
    })

    test('request quota', async () => {
      const limits = { ...NO_LIMITS, requests: 37 }
      const n = await admitted(200, async (s) => (await s.reserveQuota('rq', P, 10, limits)).allowed)
      expect(n).toBe(memoryAdmits(200, (m) => m.reserveQuota('rq', P, 10, limits).allowed))
      expect(n).toBe(37)
      expect(await storeA.usage('rq', P)).toEqual({ requests: 37, tokens: 370, costUsd: 0 })
      expect(await storeB.reserveQuota('rq', P, 10, limits)).toEqual({ allowed: false, exceeded: 'requests', generation: 1 })
    })

    test('token quota', async () => {
      const limits = { ...NO_LIMITS, tokens: 1_000 }
      const n = await admitted(200, async (s) => (await s.reserveQuota('tq', P, 30, limits)).allowed)
      expect(n).toBe(memoryAdmits(200, (m) => m.reserveQuota('tq', P, 30, limits).allowed))
      expect(n).toBe(33)
      expect((await storeB.usage('tq', P)).tokens).toBe(990)
      // Settling gives back what was not used.
      await storeA.addUsage('tq', P, { requests: 0, tokens: -90, costUsd: 0 })
      expect(await admitted(200, async (s) => (await s.reserveQuota('tq', P, 30, limits)).allowed)).toBe(3)
    })

    test('budget: admits while spent and reserved is below it', async () => {
      const limits = { ...NO_LIMITS, budgetUsd: 1 }
      const n = await admitted(200, async (s) => (await s.reserveQuota('bq', P, 1, limits, 0.07)).allowed)
      expect(n).toBe(memoryAdmits(200, (m) => m.reserveQuota('bq', P, 1, limits, 0.07).allowed))
      expect(n).toBe(15)
      expect((await storeA.usage('bq', P)).costUsd).toBeCloseTo(1.05, 9)
      expect(await storeA.reserveQuota('bq', P, 1, limits, 0.07)).toEqual({ allowed: false, exceeded: 'budget', generation: 1 })
    })

    test('period hashes expire after the period ends, plus the margin', async () => {
      const start = Date.now()
      await storeA.reserveQuota('exp', start, 1, NO_LIMITS, 0, start + 86_400_000)
      const ttl = Number(await a.send('PTTL', [`t:quota:exp:${start}`]))
      expect(ttl).toBeGreaterThan(86_400_000 + 3_600_000 - 5_000)
      expect(ttl).toBeLessThanOrEqual(86_400_000 + 3_600_000)
    })
  })

  test('a Redis that lost its script cache is sent the script itself', async () => {
    await a.send('SCRIPT', ['FLUSH'])
    expect((await storeA.take('noscript', 1, 10, MINUTE)).allowed).toBe(true)
    expect(Number(await a.send('PTTL', ['t:rate:noscript']))).toBeGreaterThan(0)
  })

  describe('deadlines', () => {
    test('a script given a deadline already passed applies nothing', async () => {
      const past = String(a.redisNow() - 1_000)
      expect(await a.evalScript(GCRA_TAKE, ['late:rate'], ['1', '10', String(MINUTE), past])).toEqual(['late'])
      expect(await a.evalScript(SLOT_ACQUIRE, ['late:slots'], ['5', 'lease-1', '5000', past])).toEqual(['late'])
      await a.send('SET', ['late:generation', '1'])
      expect(await a.evalScript(QUOTA_RESERVE, ['late:quota', 'late:generation'], ['10', '0', '', '', '', String(Date.now() + MINUTE), past])).toEqual(['late'])
      for (const key of ['late:rate', 'late:slots', 'late:quota']) expect(await exists(key)).toBe(false)
      // The same calls with a deadline still ahead do apply.
      const ahead = String(a.deadline())
      expect(((await a.evalScript(GCRA_TAKE, ['late:rate'], ['1', '10', String(MINUTE), ahead])) as string[])[0]).toBe('ok')
      expect(await exists('late:rate')).toBe(true)
    })

    test('commands that reach a paused Redis after their deadline apply nothing', async () => {
      await a.send('CONFIG', ['RESETSTAT'])
      process.kill(server!.pid, 'SIGSTOP')
      const lateBefore = a.counters.lateReplies
      let resumed = false
      try {
        const calls = Array.from({ length: 20 }, () => storeA.reserveQuota('paused', P, 5, NO_LIMITS).then(() => 'ok', (e) => (unavailable(e) ? (e as RedisUnavailableError).reason : 'other')))
        await Bun.sleep(650)
        process.kill(server!.pid, 'SIGCONT')
        resumed = true
        expect(new Set(await Promise.all(calls))).toEqual(new Set(['timeout']))
      } finally {
        if (!resumed) process.kill(server!.pid, 'SIGCONT')
      }
      await a.whenUp(5_000)
      // The scripts did run once Redis woke, and answered `late`.
      await waitFor('the late answers', () => a.counters.lateReplies >= lateBefore + 20, 2_000)
      expect(await storeA.usage('paused', P)).toEqual({ requests: 0, tokens: 0, costUsd: 0 })
      // Redis counts the commands a script runs: none wrote, so nothing needed undoing either.
      const stats = String(await a.send('INFO', ['commandstats']))
      expect(Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1])).toBeGreaterThanOrEqual(20)
      expect(stats).not.toContain('cmdstat_hincrby')
    })

    test('an admission applied in time but answered too late is undone', async () => {
      // A gateway whose clock jumped 2 s ahead since it measured Redis's sends deadlines 2 s too
      // late, so its scripts still apply after Redis wakes; their answers come after the call gave up.
      let skew = 0
      const fast = wrapper({ pingEveryMs: 0, timeoutMs: 300 }, { now: () => Date.now() + skew })
      await fast.whenUp(5_000)
      const store = limitStore(fast)
      skew = 2_000
      await a.send('CONFIG', ['RESETSTAT'])
      process.kill(server!.pid, 'SIGSTOP')
      let resumed = false
      try {
        const calls = Array.from({ length: 10 }, () => store.reserveQuota('undone', P, 5, NO_LIMITS).then(() => 'ok', (e) => (unavailable(e) ? (e as RedisUnavailableError).reason : 'other')))
        const slots = Array.from({ length: 10 }, () => store.acquire('undone', 100).then(() => 'ok', () => 'failed'))
        await Bun.sleep(450)
        process.kill(server!.pid, 'SIGCONT')
        resumed = true
        expect(new Set(await Promise.all(calls))).toEqual(new Set(['timeout']))
        expect(new Set(await Promise.all(slots))).toEqual(new Set(['failed']))
      } finally {
        if (!resumed) process.kill(server!.pid, 'SIGCONT')
      }
      await waitFor('the late answers', () => fast.counters.lateReplies >= 20, 2_000)
      // Each slot was taken and then given back.
      await waitFor('the undo', async () => /cmdstat_zrem:calls=10,/.test(String(await a.send('INFO', ['commandstats']))), 2_000)
      await waitFor('the quota undo', async () => (await storeA.usage('undone', P)).requests === 0, 2_000)
      expect(await storeA.usage('undone', P)).toEqual({ requests: 0, tokens: 0, costUsd: 0 })
      expect(Number(await a.send('ZCARD', ['t:slots:undone']))).toBe(0)
      expect(store.heldSlots).toBe(0)
    })

    test('the breaker opens after failures in a row, fails fast while open, and a probe closes it', async () => {
      const r = wrapper({ pingEveryMs: 0, timeoutMs: 100, breaker: { failures: 3, coolOffMs: 300 } })
      await r.whenUp(5_000)
      process.kill(server!.pid, 'SIGSTOP')
      let resumed = false
      try {
        for (let i = 0; i < 3; i++) expect(await r.send('PING', []).catch((e) => (e as RedisUnavailableError).reason)).toBe('timeout')
        expect(r.state).toBe('open')
        expect(r.healthy).toBe(false)
        const t0 = performance.now()
        expect(await r.send('PING', []).catch((e) => (e as RedisUnavailableError).reason)).toBe('open')
        expect(performance.now() - t0).toBeLessThan(20)
        expect(r.counters.rejectedOpen).toBe(1)
      } finally {
        process.kill(server!.pid, 'SIGCONT')
        resumed = true
      }
      expect(resumed).toBe(true)
      await Bun.sleep(350)
      expect(await r.send('PING', [])).toBe('PONG')
      expect(r.state).toBe('up')
    })
  })

  describe('concurrency leases', () => {
    test('an instance that stops renewing loses its slots after the lease', async () => {
      const crashed = limitStore(a, { leaseMs: 300 })
      expect(await crashed.acquire('lease:k', 2)).toBe(true)
      expect(await crashed.acquire('lease:k', 2)).toBe(true)
      expect(await storeB.acquire('lease:k', 2)).toBe(false)
      crashed.close()
      await waitFor('the leases to run out', () => storeB.acquire('lease:k', 2), 2_000)
      await storeB.release('lease:k')
    })

    test('a live instance keeps its slots past the lease by renewing them', async () => {
      const live = limitStore(a, { leaseMs: 500 })
      expect(await live.acquire('renew:k', 1)).toBe(true)
      await Bun.sleep(1_200)
      expect(await storeB.acquire('renew:k', 1)).toBe(false)
      await live.release('renew:k')
      expect(await storeB.acquire('renew:k', 1)).toBe(true)
      await storeB.release('renew:k')
    })
  })

  describe('reseed from a database checkpoint', () => {
    const checkpoint = { requests: 5, tokens: 500, costUsd: 0.25 }
    const reason = (p: Promise<unknown>) => p.then(() => 'applied', (e: RedisUnavailableError) => e.reason)

    test('without a generation nothing is counted; one instance seeds under the lock, then counting starts', async () => {
      // A prefix whose generation was never set: a Redis that came back empty.
      const fresh = limitStore(a, { prefix: 'empty:' })
      const other = limitStore(b, { prefix: 'empty:' })
      expect(await reason(fresh.reserveQuota('seed', P, 10, NO_LIMITS))).toBe('unseeded')
      expect(await reason(fresh.addUsage('seed', P, { requests: 0, tokens: 5, costUsd: 0 }))).toBe('unseeded')
      expect(await exists(`empty:quota:seed:${P}`)).toBe(false)
      const claim = await fresh.claimSeeding()
      expect(claim).toEqual({ token: expect.any(String) })
      const token = (claim as { token: string }).token
      expect(await other.claimSeeding()).toBeNull()
      expect(await other.seed('not-the-token', 'seed', P, { requests: 99, tokens: 0, costUsd: 0 })).toBe(false)
      expect(await fresh.seed(token, 'seed', P, checkpoint)).toBe(true)
      // Seeded but not finished: still no counting.
      expect(await reason(other.reserveQuota('seed', P, 10, NO_LIMITS))).toBe('unseeded')
      expect(await other.finishSeeding('not-the-token', 7)).toBe(false)
      expect(await fresh.finishSeeding(token, 7)).toBe(true)
      expect(await other.generation()).toBe(7)
      // One that saw no generation a moment ago and asks now is told of it, rather than seed again.
      expect(await other.claimSeeding()).toEqual({ generation: 7 })
      expect(await other.usage('seed', P)).toEqual(checkpoint)
      expect(await other.reserveQuota('seed', P, 10, NO_LIMITS)).toEqual({ allowed: true, generation: 7 })
      // A sync meant for another generation applies nothing.
      expect(await reason(fresh.addUsage('seed', P, { requests: 1, tokens: 0, costUsd: 0 }, undefined, 6))).toBe('moved')
      expect(await fresh.addUsage('seed', P, { requests: 1, tokens: 0, costUsd: 0 }, undefined, 7)).toBe(7)
      expect(await fresh.usage('seed', P)).toEqual({ requests: 7, tokens: 510, costUsd: 0.25 })
      // The lock went with the finish: a late seed with the old token applies nothing.
      expect(await fresh.seed(token, 'seed', P, checkpoint)).toBe(false)
      // A seed that failed gives its lock back, and only its own.
      const empty = limitStore(a, { prefix: 'abandoned:' })
      const first = (await empty.claimSeeding()) as { token: string }
      await empty.abandonSeeding('not-the-token')
      expect(await empty.claimSeeding()).toBeNull()
      await empty.abandonSeeding(first.token)
      expect(await empty.claimSeeding()).toEqual({ token: expect.any(String) })
    })
  })

  test('round trip per admit, measured', async () => {
    const rounds = 500
    const latencies: number[] = []
    const budgetEnd = performance.now() + 10_000
    for (let i = 0; i < rounds && performance.now() < budgetEnd; i++) {
      const t0 = performance.now()
      await storeA.take('bench:seq', 1, 1e9, MINUTE)
      latencies.push((performance.now() - t0) * 1000)
    }
    latencies.sort((x, y) => x - y)
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(0)

    const total = 10_000
    const inFlight = 200
    const t0 = performance.now()
    let done = 0
    while (done < total && performance.now() < budgetEnd + 10_000) {
      await Promise.all(Array.from({ length: inFlight }, (_, i) => (i % 2 ? storeA : storeB).reserveQuota('bench:par', P, 1, NO_LIMITS)))
      done += inFlight
    }
    const perAdmitUs = ((performance.now() - t0) * 1000) / done
    console.log(`redis-limits: one take at a time: p50 ${at(0.5)} µs, p99 ${at(0.99)} µs over ${latencies.length}; ${inFlight} in flight from two gateways: ${perAdmitUs.toFixed(1)} µs per reserve over ${done}`)
    expect(latencies.length).toBe(rounds)
    expect((await storeA.usage('bench:par', P)).requests).toBe(done)
  })

  describe('Redis killed and restarted', () => {
    test('calls fail fast while it is down and leave nothing behind; the supervisor reconnects after Bun would have given up; pub/sub resubscribes and resync fires', async () => {
      const received: string[] = []
      await a.subscribe('sluice-test', (m) => received.push(m))
      let resyncs = 0
      const states: string[] = []
      const stop = a.watch({ resync: () => resyncs++, state: (s) => states.push(s) })
      await b.publish('sluice-test', 'before')
      await waitFor('the message before', () => received.includes('before'), 2_000)
      // Two slots held while Redis dies: they come back with the resync.
      expect(await storeA.acquire('restart:slots', 5)).toBe(true)
      expect(await storeA.acquire('restart:slots', 5)).toBe(true)
      // Bun's own client, told to give up after three tries (it gives up after 20 by default, about 31 s).
      const bun = new RedisClient(`redis://127.0.0.1:${port}`, { enableOfflineQueue: false, maxRetries: 3 })
      let bunGaveUp = false
      await bun.connect()
      bun.onclose = () => (bunGaveUp = true)

      await killServer()
      await waitFor('both gateways to see Redis down', () => a.state === 'down' && b.state === 'down', 2_000)
      expect(a.healthy).toBe(false)

      const t0 = performance.now()
      const outcomes = await Promise.all(
        Array.from({ length: 100 }, (_, i) => {
          const s = i % 2 ? storeA : storeB
          const call = i % 3 === 0 ? s.take('restart:rpm', 1, 1_000, MINUTE) : i % 3 === 1 ? s.reserveQuota('restart', P, 7, NO_LIMITS) : s.acquire('restart:down', 100)
          return (call as Promise<unknown>).then(() => 'applied', (e) => (unavailable(e) ? (e as RedisUnavailableError).reason : 'other'))
        }),
      )
      const failMs = performance.now() - t0
      expect(new Set(outcomes)).toEqual(new Set(['down']))
      expect(failMs).toBeLessThan(100)

      await waitFor("Bun's client to give up", () => bunGaveUp, 5_000)
      await Bun.sleep(500)
      const failedTries = a.counters.connectFailures
      expect(failedTries).toBeGreaterThan(3)

      await startServer()
      await Promise.all([a.whenUp(5_000), b.whenUp(5_000)])
      await Bun.sleep(300)
      expect(bun.connected).toBe(false)
      bun.close()
      expect(states).toContain('down')
      expect(states.at(-1)).toBe('up')
      expect(resyncs).toBeGreaterThanOrEqual(1)

      // Nothing issued while it was down reached the new server.
      expect(await exists('t:rate:restart:rpm')).toBe(false)
      expect(await exists('t:slots:restart:down')).toBe(false)
      expect(await exists('t:quota:restart:' + P)).toBe(false)
      // The server came back empty: no generation, so nothing is counted there until a seed.
      expect(await storeA.usage('restart', P).then(() => 'counted', (e: RedisUnavailableError) => e.reason)).toBe('unseeded')

      await b.publish('sluice-test', 'after')
      await waitFor('the message after the restart', () => received.includes('after'), 2_000)
      await waitFor('the held slots to be put back', async () => Number(await a.send('ZCARD', ['t:slots:restart:slots'])) === 2, 2_000)
      console.log(`redis-limits: 100 calls while down failed in ${failMs.toFixed(1)} ms; ${failedTries} reconnect attempts failed before the restart; Bun's client gave up and stayed down`)
      stop()
      await storeA.release('restart:slots')
      await storeA.release('restart:slots')
    })
  })
})
