import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { RedisClient, SQL, type Subprocess } from 'bun'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'
import { startPostgres, withPostgres, type PgServer } from '../helpers/postgres.ts'
import { PROCESS_ADMIN_TOKEN, PROCESS_CLIENT_KEY, processConfig, startProcessGateway, type ProcessGateway } from '../helpers/process-gateway.ts'

// Two sluice processes on one PostgreSQL database and one Redis, under a steady, bounded stream of
// requests. PostgreSQL is stopped (fast shutdown: its connections are cut) and started again on the
// same data: the requests keep being served meanwhile, their usage and request-log rows wait in the
// writers' queues, and once PostgreSQL is back every row is written exactly once.

const REDIS_SERVER = Bun.which('redis-server')
if (!REDIS_SERVER) console.log('postgres-restart: skipped, redis-server is not on PATH (Debian: apt-get install redis-server)')
const run = withPostgres('postgres-restart') && REDIS_SERVER !== null

/** Far above what the test sends: below the bound, no row may be lost. */
const QUEUE_SIZE = 10_000
/** Requests per tick, split over the two instances, and the time between ticks. */
const PER_TICK = 4
const TICK_MS = 25
const OUTAGE_MS = 2_500

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const p = listener.port
  listener.stop(true)
  return p
}

/** Polls `check` until it holds; fails after `ms`. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const t0 = performance.now()
  while (performance.now() - t0 < ms) {
    if (await Promise.resolve().then(check).catch(() => false)) return
    await Bun.sleep(50)
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`)
}

describe.skipIf(!run)('PostgreSQL stopped and started again under load, two instances', () => {
  let pg: PgServer
  let url: string
  let redis: Subprocess
  let mock: MockUpstream
  let dir: string
  let gateways: ProcessGateway[] = []

  beforeAll(async () => {
    pg = await startPostgres()
    url = await pg.createDatabase('restart')
    const redisPort = await freePort()
    redis = Bun.spawn([REDIS_SERVER!, '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdout: 'ignore', stderr: 'ignore' })
    const probe = new RedisClient(`redis://127.0.0.1:${redisPort}`, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: 200 })
    await waitFor('redis-server to answer', () => probe.connect().then(() => true, () => false), 5_000)
    probe.close()
    mock = startMockUpstream(['m'])
    dir = mkdtempSync(join(tmpdir(), 'sluice-pg-restart-'))
    const config = processConfig(mock.baseUrl, {
      auth: { keys: [{ name: 'tester', key: PROCESS_CLIENT_KEY, quota: { period: 'day', requests: 1_000_000 } }] },
      logging: { queue_size: QUEUE_SIZE },
      redis: { url: `redis://127.0.0.1:${redisPort}`, timeout_ms: 2_000 },
    })
    // One after the other: the first migrates the empty database.
    for (const name of ['a', 'b']) gateways.push(await startProcessGateway(config, { dir, configFile: `${name}.json`, db: url }))
  }, 60_000)

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()))
    mock?.stop()
    redis?.kill('SIGKILL')
    await redis?.exited
    await pg?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('requests are served through the outage; afterwards every log row and all usage is written once', async () => {
    const chat = (gw: ProcessGateway) =>
      fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${PROCESS_CLIENT_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
      }).then(async (r) => {
        await r.arrayBuffer()
        return { status: r.status, id: r.headers.get('x-request-id') ?? '', at: performance.now() }
      })
    const sent: Promise<{ status: number; id: string; at: number }>[] = []
    let stopped = false
    let n = 0
    // The stream: a few requests every tick until told to stop (and never more than a bound).
    const stream = (async () => {
      while (!stopped && n < 4_000) {
        for (let i = 0; i < PER_TICK; i++) sent.push(chat(gateways[n++ % gateways.length]!))
        await Bun.sleep(TICK_MS)
      }
    })()
    await Bun.sleep(1_000)
    pg.halt()
    const downAt = performance.now()
    await Bun.sleep(OUTAGE_MS)
    const upAt = performance.now()
    pg.resume()
    await Bun.sleep(1_000)
    stopped = true
    await stream
    const answers = await Promise.all(sent)
    const failed = answers.filter((a) => a.status !== 200)
    expect(failed).toEqual([])
    const duringOutage = answers.filter((a) => a.at > downAt && a.at < upAt).length
    expect(duringOutage).toBeGreaterThan(OUTAGE_MS / TICK_MS)
    console.log(`postgres-restart: ${answers.length} requests, ${duringOutage} answered while PostgreSQL was down`)

    const ids = answers.map((a) => a.id)
    expect(new Set(ids).size).toBe(ids.length)
    const sql = new SQL({ url, max: 1 })
    try {
      // The writers try again on their timers; the pools connect again on their own.
      let logged = 0
      await waitFor(
        'every request-log row',
        async () => {
          const [row] = await sql`SELECT count(*) AS n FROM requests WHERE request_id IN ${sql(ids)}`
          logged = Number(row.n)
          return logged >= ids.length
        },
        20_000,
      ).catch((err) => {
        throw new Error(`${err.message}: ${logged} of ${ids.length} rows written\n${gateways.map((g) => g.output().slice(-2_000)).join('\n')}`)
      })
      await waitFor(
        'the usage',
        async () => {
          const [row] = await sql`SELECT coalesce(sum(requests), 0) AS n FROM client_key_usage WHERE key_id = 'cfg_tester'`
          return Number(row.n) >= ids.length
        },
        10_000,
      )
      // Another save or two: nothing queued during the outage is written twice.
      await Bun.sleep(1_500)
      const [rows] = await sql`SELECT count(*) AS n, count(DISTINCT request_id) AS d FROM requests`
      expect({ rows: Number(rows.n), distinct: Number(rows.d) }).toEqual({ rows: ids.length, distinct: ids.length })
      const [usage] = await sql`SELECT coalesce(sum(requests), 0) AS n FROM client_key_usage WHERE key_id = 'cfg_tester'`
      expect(Number(usage.n)).toBe(ids.length)
      const [daily] = await sql`SELECT coalesce(sum(requests), 0) AS n FROM usage_daily WHERE key_id = 'cfg_tester'`
      expect(Number(daily.n)).toBe(ids.length)
      // And the shared count every instance reports agrees.
      for (const gw of gateways) {
        const key = (await (await fetch(`${gw.url}/admin/api/keys/cfg_tester`, { headers: { authorization: `Bearer ${PROCESS_ADMIN_TOKEN}` } })).json()) as { usage?: { requests: number } }
        expect(key.usage?.requests).toBe(ids.length)
      }
    } finally {
      await sql.close()
    }
    for (const gw of gateways) await waitFor('the instance to report the database healthy', async () => ((await (await fetch(`${gw.url}/health`)).json()) as any).database?.writable === true, 5_000)
  }, 60_000)

  test('both stop cleanly, with nothing left unwritten', async () => {
    expect(await Promise.all(gateways.map((g) => g.stop()))).toEqual([0, 0])
    for (const gw of gateways) {
      expect(gw.output()).not.toContain('could not be written')
      expect(gw.output()).not.toContain('rows lost')
    }
  }, 30_000)
})
