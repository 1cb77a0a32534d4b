import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Database } from '../../src/storage/database.ts'
import { createRequestWriter, type LogRow } from '../../src/storage/request-writer.ts'
import { createUsageQueries, type TrendQuery } from '../../src/storage/usage-queries.ts'
import { storageEngines } from '../helpers/engines.ts'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

const ADMIN = 'trends-admin-token-0123456789'
const NOW = Date.UTC(2026, 0, 15, 12, 30, 0)
const at = (iso: string) => Date.parse(iso)

const row = (ts: number, model: string, keyId: string, provider: string, latencyMs: number, status = 200): LogRow => ({
  ts, requestId: `r${ts}`, method: 'POST', endpoint: '/v1/chat/completions', status, latencyMs,
  usageSource: 'reported', model, provider, keyId, promptTokens: 10, completionTokens: 5, costUsd: 0.01,
})

// Known rows: five in the last hour, one earlier today, one ten days ago, one outside 30 days.
const ROWS = [
  row(at('2026-01-15T12:00:10Z'), 'a', 'k1', 'p1', 100),
  row(at('2026-01-15T12:00:20Z'), 'a', 'k1', 'p1', 300, 500),
  row(at('2026-01-15T12:00:30Z'), 'b', 'k2', 'p2', 1000),
  row(at('2026-01-15T12:10:00Z'), 'c', 'k3', 'p1', 50),
  row(at('2026-01-15T12:20:00Z'), 'd', 'k1', 'p2', 2000),
  row(at('2026-01-15T02:00:00Z'), 'a', 'k2', 'p1', 700),
  row(at('2026-01-05T08:00:00Z'), 'b', 'k3', 'p2', 90),
  row(at('2025-12-01T08:00:00Z'), 'e', 'k4', 'p3', 90),
]

const sum = (v: (number | null)[]) => v.reduce<number>((a, b) => a + (b ?? 0), 0)
const valueAt = (r: { t: number[]; series: { values: (number | null)[] }[] }, s: number, iso: string) => r.series[s]!.values[r.t.indexOf(at(iso))]

// The same rows and answers on each storage engine.
for (const engine of storageEngines('trends')) describe.skipIf(engine.skip !== null)(`trends from known rows (${engine.name})`, () => {
  let trends: (q: Partial<TrendQuery>) => Promise<any>
  let db: Database
  beforeAll(async () => {
    db = await engine.open()
    const writer = createRequestWriter(db, { filePath: db.filePath!, maxQueue: 1000, batchSize: 100, flushMs: 60_000, onError: () => {}, onDropped: () => {} })
    for (const r of ROWS) writer.enqueue(r)
    await writer.stop()
    const q = createUsageQueries(db)
    trends = (over) => q.trends({ window: '1h', metric: 'requests', top: 5, now: NOW, ...over })
  })

  test('the last hour by minute, from the raw log: counts, errors, tokens, cost', async () => {
    const r = await trends({})
    expect(r.source).toBe('request_log')
    expect(r.step_ms).toBe(60_000)
    expect(r.t).toHaveLength(60)
    expect(r.t[0]).toBe(at('2026-01-15T11:31:00Z'))
    expect(r.t.at(-1)).toBe(at('2026-01-15T12:30:00Z'))
    expect(r.series).toEqual([{ name: null, values: expect.any(Array) }])
    expect(valueAt(r, 0, '2026-01-15T12:00:00Z')).toBe(3)
    expect(valueAt(r, 0, '2026-01-15T12:10:00Z')).toBe(1)
    expect(sum(r.series[0].values)).toBe(5)
    expect(sum((await trends({ metric: 'errors' })).series[0].values)).toBe(1)
    expect(sum((await trends({ metric: 'tokens' })).series[0].values)).toBe(75)
    expect(sum((await trends({ metric: 'cost' })).series[0].values)).toBeCloseTo(0.05, 10)
  })

  test('latency p50/p95: exact from raw rows by minute, histogram bucket bounds by hour', async () => {
    const minute = await trends({ metric: 'latency' })
    expect(minute.series.map((s: any) => s.name)).toEqual(['p50', 'p95'])
    // 12:00 has 100, 300 and 1000 ms: nearest rank.
    expect(valueAt(minute, 0, '2026-01-15T12:00:00Z')).toBe(300)
    expect(valueAt(minute, 1, '2026-01-15T12:00:00Z')).toBe(1000)
    expect(valueAt(minute, 0, '2026-01-15T12:01:00Z')).toBeNull()
    const hour = await trends({ window: '24h', metric: 'latency' })
    expect(hour.source).toBe('usage_hourly')
    // 12:00-13:00 has 50, 100, 300, 1000, 2000 ms: buckets ≤100 ×2, ≤500, ≤1000, ≤2500.
    expect(valueAt(hour, 0, '2026-01-15T12:00:00Z')).toBe(500)
    expect(valueAt(hour, 1, '2026-01-15T12:00:00Z')).toBe(2500)
    expect(valueAt(hour, 0, '2026-01-15T02:00:00Z')).toBe(1000)
  })

  test('the last day by hour and 30 days by day, from usage_hourly', async () => {
    const day = await trends({ window: '24h' })
    expect(day.source).toBe('usage_hourly')
    expect(day.t).toHaveLength(24)
    expect(day.t[0]).toBe(at('2026-01-14T13:00:00Z'))
    expect(valueAt(day, 0, '2026-01-15T12:00:00Z')).toBe(5)
    expect(valueAt(day, 0, '2026-01-15T02:00:00Z')).toBe(1)
    expect(sum(day.series[0].values)).toBe(6)
    const month = await trends({ window: '30d', metric: 'cost' })
    expect(month.t).toHaveLength(30)
    expect(month.t[0]).toBe(at('2025-12-17T00:00:00Z'))
    expect(valueAt(month, 0, '2026-01-15T00:00:00Z')).toBeCloseTo(0.06, 10)
    expect(valueAt(month, 0, '2026-01-05T00:00:00Z')).toBeCloseTo(0.01, 10)
    // The row of 2025-12-01 is outside the window.
    expect(sum(month.series[0].values)).toBeCloseTo(0.07, 10)
  })

  test('a breakdown: the top groups by their total, the rest as "other"', async () => {
    const byModel = await trends({ by: 'model', top: 2 })
    // a: 2, then b, c, d: 1 each (ties by name).
    expect(byModel.series.map((s: any) => [s.name, sum(s.values), s.other ?? false])).toEqual([['a', 2, false], ['b', 1, false], ['other', 2, true]])
    const byProvider = await trends({ window: '24h', by: 'provider' })
    expect(byProvider.source).toBe('request_log')
    expect(byProvider.series.map((s: any) => [s.name, sum(s.values)])).toEqual([['p1', 4], ['p2', 2]])
    expect(valueAt(byProvider, 0, '2026-01-15T12:00:00Z')).toBe(3)
    const byKey = await trends({ window: '30d', by: 'key', top: 1 })
    expect(byKey.source).toBe('usage_daily')
    expect(byKey.series.map((s: any) => [s.name, sum(s.values)])).toEqual([['k1', 3], ['other', 4]])
    expect(valueAt(byKey, 1, '2026-01-05T00:00:00Z')).toBe(1)
    const tokensByKey = await trends({ window: '30d', by: 'key', metric: 'tokens' })
    expect(tokensByKey.series.map((s: any) => [s.name, sum(s.values)])).toEqual([['k1', 45], ['k2', 30], ['k3', 30]])
  })

  test('latency per group from the raw log: one quantile, exact, the top groups by requests and the rest as "other"', async () => {
    const q = createUsageQueries(db)
    const byModel = await q.latencyTrend({ window: '1h', by: 'model', quantile: 'p95', top: 2, now: NOW })
    expect(byModel).toMatchObject({ window: '1h', metric: 'latency', by: 'model', quantile: 'p95', step_ms: 60_000, source: 'request_log' })
    // a: 2 requests, then b, c, d with one each (ties by name): c and d are "other".
    expect(byModel.series.map((s) => [s.name, s.other ?? false])).toEqual([['a', false], ['b', false], ['other', true]])
    expect(valueAt(byModel, 0, '2026-01-15T12:00:00Z')).toBe(300)
    expect(valueAt(byModel, 1, '2026-01-15T12:00:00Z')).toBe(1000)
    expect(valueAt(byModel, 2, '2026-01-15T12:10:00Z')).toBe(50)
    expect(valueAt(byModel, 2, '2026-01-15T12:20:00Z')).toBe(2000)
    expect(valueAt(byModel, 0, '2026-01-15T12:10:00Z')).toBeNull()
    const p50 = await q.latencyTrend({ window: '1h', by: 'model', quantile: 'p50', top: 2, now: NOW })
    expect(valueAt(p50, 0, '2026-01-15T12:00:00Z')).toBe(100)
    // The last day by hour: p1 has 50, 100 and 300 ms at 12:00 and 700 at 02:00; p2 has 1000 and 2000.
    const byProvider = await q.latencyTrend({ window: '24h', by: 'provider', quantile: 'p50', top: 5, now: NOW })
    expect(byProvider.t).toHaveLength(24)
    expect(byProvider.series.map((s) => s.name)).toEqual(['p1', 'p2'])
    expect(valueAt(byProvider, 0, '2026-01-15T12:00:00Z')).toBe(100)
    expect(valueAt(byProvider, 0, '2026-01-15T02:00:00Z')).toBe(700)
    expect(valueAt(byProvider, 1, '2026-01-15T12:00:00Z')).toBe(1000)
    const p95 = await q.latencyTrend({ window: '24h', by: 'provider', quantile: 'p95', top: 5, now: NOW })
    expect(valueAt(p95, 1, '2026-01-15T12:00:00Z')).toBe(2000)
  })
})

describe('GET /admin/api/trends', () => {
  let mock: MockUpstream
  let gw: TestGateway
  beforeAll(async () => {
    mock = startMockUpstream()
    gw = await startGateway({
      admin: { token: ADMIN },
      auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
      providers: [{ name: 'mock', type: 'openai', base_url: mock.baseUrl, keys: ['k-ok-upstream'], models: ['mock-model'] }],
    })
  })
  afterAll(async () => {
    await gw.stop()
    mock.stop()
  })
  const get = (path: string, token = ADMIN) => fetch(`${gw.url}/admin/api/trends${path}`, { headers: { authorization: `Bearer ${token}` } })

  test('answers with times and series; defaults to the last day of requests', async () => {
    const res = await get('')
    expect(res.status).toBe(200)
    const body: any = await res.json()
    expect(body).toMatchObject({ window: '24h', metric: 'requests', by: null, step_ms: 3_600_000 })
    expect(body.t).toHaveLength(24)
    const byModel: any = await (await get('?window=30d&metric=tokens&by=model&top=3')).json()
    expect(byModel).toMatchObject({ window: '30d', metric: 'tokens', by: 'model', source: 'usage_daily' })
  })

  test('a breakdown by key names the keys; latency per model for the last hour and day', async () => {
    const ask = () => fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] }) })
    await ask()
    let byKey: any
    for (let i = 0; i < 50 && !byKey?.series.length; i++) {
      await Bun.sleep(100)
      byKey = await (await get('?window=1h&by=key')).json()
    }
    expect(byKey.series.map((s: any) => [s.name, s.key_id])).toEqual([['tester', 'cfg_tester']])
    for (const window of ['1h', '24h']) {
      const latency: any = await (await get(`?window=${window}&metric=latency&by=model&quantile=p50`)).json()
      expect(latency).toMatchObject({ window, metric: 'latency', by: 'model', quantile: 'p50', source: 'request_log' })
      expect(latency.series.map((s: any) => s.name)).toEqual(['mock-model'])
      expect(latency.series[0].values.filter((v: number | null) => v !== null)).toHaveLength(1)
    }
  })

  test('admin only; bad values are a 400 naming the field', async () => {
    expect((await get('', CLIENT_KEY)).status).toBe(401)
    expect((await fetch(`${gw.url}/admin/api/trends`)).status).toBe(401)
    for (const [query, param] of [
      ['?window=2h', 'window'],
      ['?metric=bogus', 'metric'],
      ['?by=day', 'by'],
      ['?window=30d&metric=latency&by=model', 'by'],
      ['?metric=latency&by=model&quantile=p99', 'quantile'],
      ['?metric=requests&quantile=p50', 'quantile'],
      ['?top=0', 'top'],
      ['?top=abc', 'top'],
    ]) {
      const res = await get(query!)
      expect({ query, status: res.status }).toEqual({ query, status: 400 })
      const body: any = await res.json()
      expect(body.error.param).toBe(param)
      expect(body.error.message).toStartWith(`${param}:`)
    }
  })
})
