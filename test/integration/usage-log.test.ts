import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@libsql/client'
import OpenAI from 'openai'
import { fingerprint } from '../../src/lib/crypto.ts'
import { openSqlite } from '../../src/storage/database.ts'
import { createRequestWriter, type LogRow } from '../../src/storage/request-writer.ts'
import { createUsageQueries } from '../../src/storage/usage-queries.ts'
import { CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { endlessStream, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

const ADMIN = 'usage-admin-token-0123456789'
let mock: MockUpstream
let gw: TestGateway
let client: OpenAI

const row = (over: Partial<LogRow> = {}): LogRow => ({
  ts: Date.now(), requestId: 'r', method: 'POST', endpoint: '/v1/chat/completions', status: 200, latencyMs: 120,
  usageSource: 'reported', model: 'm', provider: 'p', keyId: 'k1', promptTokens: 10, completionTokens: 5, costUsd: 0.01, ...over,
})

const get = (path: string) => fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } })

async function adminJson(path: string): Promise<any> {
  const res = await get(path)
  expect(res.status).toBe(200)
  return res.json()
}

beforeAll(async () => {
  mock = startMockUpstream()
  gw = await startGateway({
    admin: { token: ADMIN },
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    logging: { bodies: 'errors' },
    prices: { 'mock-model': { prompt: 1, completion: 2 } },
    providers: [{ name: 'mock', type: 'openai', base_url: mock.baseUrl, keys: ['k-ok-upstream'], models: ['mock-model'] }],
  })
  client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})

describe('the request log writer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-writer-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('batches rows with their daily and hourly aggregates, all written on stop (prepared statements on a file)', async () => {
    const db = await openSqlite(`file:${join(dir, 'a.db')}`)
    const writer = createRequestWriter(db, { filePath: db.filePath!, maxQueue: 10_000, batchSize: 500, flushMs: 60_000, onError: () => {}, onDropped: () => {} })
    for (let i = 0; i < 1234; i++) writer.enqueue(row({ requestId: `r${i}`, ttftMs: i, keyId: i % 2 ? 'k1' : 'k2', status: i % 10 === 0 ? 500 : 200 }))
    await writer.stop()
    expect(writer.depth).toBe(0)
    const count = await db.client.execute('SELECT count(*) AS n FROM requests')
    expect(Number(count.rows[0]!.n)).toBe(1234)
    // Rows go in groups of fifty and the rest one by one: every value lands in its own row and column.
    const rows = await db.client.execute('SELECT request_id, ttft_ms, key_id, status, stream FROM requests ORDER BY id')
    expect(rows.rows.every((r, i) => r.request_id === `r${i}` && Number(r.ttft_ms) === i && r.key_id === (i % 2 ? 'k1' : 'k2') && Number(r.status) === (i % 10 === 0 ? 500 : 200) && Number(r.stream) === 0)).toBe(true)
    const usage = await createUsageQueries(db).usage({ groupBy: ['key'] })
    expect(usage.map((u: any) => [u.key, u.requests, u.prompt_tokens])).toEqual([['k1', 617, 6170], ['k2', 617, 6170]])
    const hourly = await db.client.execute('SELECT sum(requests) AS r, sum(errors) AS e, sum(l1) AS b FROM usage_hourly')
    expect([Number(hourly.rows[0]!.r), Number(hourly.rows[0]!.e), Number(hourly.rows[0]!.b)]).toEqual([1234, 124, 1234])
    db.close()
  })

  test('a backlog is written a batch per turn of the event loop, so requests run in between', async () => {
    const db = await openSqlite(`file:${join(dir, 'f.db')}`)
    const writer = createRequestWriter(db, { filePath: db.filePath!, maxQueue: 10_000, batchSize: 100, flushMs: 60_000, onError: () => {}, onDropped: () => {} })
    for (let i = 0; i < 99; i++) writer.enqueue(row())
    writer.enqueue(row()) // the hundredth starts a flush
    for (let i = 0; i < 400; i++) writer.enqueue(row())
    // Work the event loop gets to between batches, as a request would.
    const depthSeen: number[] = []
    const tick = setInterval(() => depthSeen.push(writer.depth), 0)
    await writer.flush()
    clearInterval(tick)
    expect(writer.depth).toBe(0)
    expect(depthSeen.some((d) => d > 0 && d < 500)).toBe(true)
    const count = await db.client.execute('SELECT count(*) AS n FROM requests')
    expect(Number(count.rows[0]!.n)).toBe(500)
    await writer.stop()
    db.close()
  })

  test('the same through the client, as for a libSQL server', async () => {
    const db = await openSqlite(`file:${join(dir, 'a2.db')}`)
    const writer = createRequestWriter(db, { maxQueue: 10_000, batchSize: 500, flushMs: 60_000, onError: () => {}, onDropped: () => {} })
    for (let i = 0; i < 1234; i++) writer.enqueue(row({ keyId: i % 2 ? 'k1' : 'k2' }))
    await writer.stop()
    const usage = await createUsageQueries(db).usage({ groupBy: ['key'] })
    expect(usage.map((u: any) => [u.key, u.requests])).toEqual([['k1', 617], ['k2', 617]])
    const stored = await db.client.execute('SELECT count(*) AS n, sum(stream) AS s FROM requests')
    expect([Number(stored.rows[0]!.n), Number(stored.rows[0]!.s)]).toEqual([1234, 0])
    db.close()
  })

  test('a full queue drops new records and counts them', async () => {
    const db = await openSqlite(`file:${join(dir, 'b.db')}`)
    let reported = 0
    const writer = createRequestWriter(db, { maxQueue: 10, batchSize: 1000, flushMs: 60_000, onError: () => {}, onDropped: (n) => (reported = n) })
    for (let i = 0; i < 15; i++) writer.enqueue(row())
    expect([writer.depth, writer.dropped, reported]).toEqual([10, 5, 5])
    await writer.stop()
    db.close()
  })

  test('a locked database delays the flush, not the requests; nothing is lost', async () => {
    const path = join(dir, 'c.db')
    const db = await openSqlite(`file:${path}`)
    await db.client.execute('PRAGMA busy_timeout = 100')
    let errors = 0
    const writer = createRequestWriter(db, { filePath: db.filePath!, maxQueue: 10_000, batchSize: 500, flushMs: 50, onError: () => errors++, onDropped: () => {} })
    writer.start()
    const locker = createClient({ url: `file:${path}` })
    const tx = await locker.transaction('write')
    await tx.execute("INSERT INTO settings (key, value, updated_at) VALUES ('lock', 'x', 0)")
    for (let i = 0; i < 50; i++) writer.enqueue(row())
    await eventually(() => errors > 0, 3000)
    expect(writer.depth).toBe(50)
    await tx.commit()
    await eventually(() => writer.depth === 0, 3000)
    await writer.stop()
    const count = await db.client.execute('SELECT count(*) AS n FROM requests')
    expect(Number(count.rows[0]!.n)).toBe(50)
    locker.close()
    db.close()
  })

  test('a database file the writer cannot open: the error is reported, the rows stay queued', async () => {
    const db = await openSqlite(`file:${join(dir, 'e.db')}`)
    const errors: string[] = []
    const writer = createRequestWriter(db, { filePath: join(dir, 'missing-dir', 'e.db'), maxQueue: 10_000, batchSize: 500, flushMs: 60_000, onError: (err) => errors.push((err as Error).message), onDropped: () => {} })
    for (let i = 0; i < 3; i++) writer.enqueue(row())
    await writer.flush()
    await writer.flush()
    expect(errors.length).toBe(2)
    expect(errors[0]).toMatch(/open/i)
    expect(writer.depth).toBe(3)
    await writer.stop()
    db.close()
  })

  test('retention prunes raw rows and keeps the aggregates', async () => {
    const db = await openSqlite(`file:${join(dir, 'd.db')}`)
    const writer = createRequestWriter(db, { maxQueue: 10_000, batchSize: 500, flushMs: 60_000, onError: () => {}, onDropped: () => {} })
    const old = Date.now() - 40 * 86_400_000
    const body = 'x'.repeat(2000)
    for (let i = 0; i < 3000; i++) writer.enqueue(row({ ts: old, requestBody: body }))
    for (let i = 0; i < 5; i++) writer.enqueue(row())
    await writer.stop()
    const pages = async () => Number((await db.client.execute('PRAGMA page_count')).rows[0]![0])
    const before = await pages()
    const queries = createUsageQueries(db)
    expect(await queries.prune(Date.now() - 30 * 86_400_000, 700)).toBe(3000)
    const left = await db.client.execute('SELECT count(*) AS n FROM requests')
    expect(Number(left.rows[0]!.n)).toBe(5)
    const kept = await queries.usage({ groupBy: [] })
    expect((kept[0] as any).requests).toBe(3005)
    // The freed pages went back to the file system: the file shrank, it did not just stop growing.
    expect(await pages()).toBeLessThan(before / 2)
    db.close()
  })
})

describe('usage accounting through the gateway', () => {
  test('every request is recorded with who, what, where, how long, tokens, cost and where usage came from', async () => {
    await client.chat.completions.create({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] })
    await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: `my key is ${CLIENT_KEY}` }] }).catch(() => {})
    let rows: any[] = []
    await eventually(async () => (rows = (await adminJson('/admin/api/requests?limit=10')).data).length >= 2)
    const [failed, ok] = rows
    expect(ok).toMatchObject({
      keyName: 'tester', keyId: 'cfg_tester', clientIp: '127.0.0.1', endpoint: '/v1/chat/completions', model: 'mock-model', provider: 'mock',
      upstreamKey: fingerprint('k-ok-upstream'), status: 200, attempts: 1, stream: false, promptTokens: 11, completionTokens: 7,
      cachedTokens: 3, usageSource: 'reported', requestBody: null,
    })
    expect(ok.costUsd).toBeCloseTo((8 * 1 + 3 * 1 + 7 * 2) / 1e6, 12)
    expect(ok.latencyMs).toBeGreaterThanOrEqual(0)
    expect(failed).toMatchObject({ status: 404, errorType: 'model_not_found', usageSource: 'missing' })
    // With logging.bodies: errors, the failed request's bodies are kept, secrets scrubbed.
    expect(failed.requestBody).toContain('no-such-model')
    expect(failed.requestBody).not.toContain(CLIENT_KEY)
    expect(failed.responseBody).toContain('model_not_found')
  })

  test('a client that leaves a stream early: the delivered tokens are estimated', async () => {
    mock.handler = () => new Response(endlessStream(mock, 5), { headers: { 'content-type': 'text/event-stream' } })
    const controller = new AbortController()
    const stream = await client.chat.completions.create({ model: 'mock-model', messages: [{ role: 'user', content: 'go' }], stream: true }, { signal: controller.signal })
    let n = 0
    try {
      for await (const _ of stream) if (++n === 5) controller.abort()
    } catch {}
    mock.handler = null
    let estimated: any
    await eventually(async () => (estimated = (await adminJson('/admin/api/requests?limit=5')).data.find((r: any) => r.usageSource === 'estimated')) !== undefined)
    expect(estimated.completionTokens).toBeGreaterThanOrEqual(5)
    expect(estimated.stream).toBe(true)
  })

  test('filters and paging of the request log', async () => {
    const errors = (await adminJson('/admin/api/requests?status=error')).data
    expect(errors.every((r: any) => r.status >= 400)).toBe(true)
    const page1 = await adminJson('/admin/api/requests?limit=1')
    const page2 = await adminJson(`/admin/api/requests?limit=1&before=${page1.next_before}`)
    expect(page2.data[0].id).toBeLessThan(page1.data[0].id)
    expect((await adminJson('/admin/api/requests?model=mock-model')).data.every((r: any) => r.model === 'mock-model')).toBe(true)
  })

  test('the request log filters by error type and by time (UTC days or ISO times); bad values are a 400 naming the field', async () => {
    const all = (await adminJson('/admin/api/requests?limit=500')).data
    const notFound = (await adminJson('/admin/api/requests?error_type=model_not_found')).data
    expect(notFound.length).toBeGreaterThan(0)
    expect(notFound.length).toBeLessThan(all.length)
    expect(notFound.every((r: any) => r.errorType === 'model_not_found')).toBe(true)
    expect((await adminJson('/admin/api/requests?error_type=no_such_type')).data).toEqual([])
    const today = new Date().toISOString().slice(0, 10)
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)
    // A day is the whole UTC day at either end.
    expect((await adminJson(`/admin/api/requests?limit=500&from=${today}&to=${today}`)).data.length).toBe(all.filter((r: any) => new Date(r.ts).toISOString().startsWith(today)).length)
    expect((await adminJson(`/admin/api/requests?from=${tomorrow}`)).data).toEqual([])
    expect((await adminJson(`/admin/api/requests?to=${yesterday}`)).data).toEqual([])
    // ISO times cut between rows: from the newest row's time on gives that row (and any at the same ms).
    const newest = all[0]
    const since = (await adminJson(`/admin/api/requests?from=${new Date(newest.ts).toISOString()}`)).data
    expect(since.map((r: any) => r.id)).toContain(newest.id)
    expect(since.every((r: any) => r.ts >= newest.ts)).toBe(true)
    const until = (await adminJson(`/admin/api/requests?limit=500&to=${new Date(newest.ts - 1).toISOString()}`)).data
    expect(until.every((r: any) => r.ts < newest.ts)).toBe(true)
    // Filters combine.
    const both = (await adminJson(`/admin/api/requests?error_type=model_not_found&status=404&from=${today}`)).data as any[]
    expect(both.length).toBe(notFound.filter((r: any) => r.status === 404 && new Date(r.ts).toISOString() >= today).length)
    for (const [query, param] of [['from=yesterday', 'from'], ['to=2026-02-30', 'to'], ['from=2026-01-01T10:00', 'from'], ['to=2026-13-01T00:00:00Z', 'to'], [`from=${tomorrow}&to=${today}`, 'to'], ['error_type=' + 'x'.repeat(300), 'error_type']]) {
      const res = await get(`/admin/api/requests?${query}`)
      expect(res.status).toBe(400)
      expect(JSON.stringify(await res.json())).toContain(param!)
    }
    expect((await get('/admin/api/requests?from=2026-01-01T10:00:00%2B08:00')).status).toBe(200)
  })

  test('GET /admin/api/requests/{id}: one row with every stored field, bodies included; 404 when absent; admin only', async () => {
    const failed = (await adminJson('/admin/api/requests?error_type=model_not_found&limit=1')).data[0]
    const one = await adminJson(`/admin/api/requests/${failed.id}`)
    expect(one).toEqual({ ...failed, priced: one.priced })
    expect(one).toMatchObject({ id: failed.id, requestId: failed.requestId, status: 404, errorType: 'model_not_found', clientIp: '127.0.0.1' })
    expect(one.requestBody).toContain('no-such-model')
    expect(one.responseBody).toContain('model_not_found')
    const ok = (await adminJson('/admin/api/requests?status=ok&limit=1')).data[0]
    expect(await adminJson(`/admin/api/requests/${ok.id}`)).toMatchObject({ upstreamKey: fingerprint('k-ok-upstream'), attempts: 1, priced: true, costUsd: ok.costUsd })
    const missing = await get('/admin/api/requests/999999999')
    expect(missing.status).toBe(404)
    // The admin API's error shape, as for a missing key.
    const missingBody: any = await missing.json()
    expect(missingBody.error.message).toContain('No request 999999999')
    expect(Object.keys(missingBody.error).sort()).toEqual(Object.keys(((await (await get('/admin/api/keys/no-such-key')).json()) as any).error).sort())
    const bad = await get('/admin/api/requests/abc')
    expect(bad.status).toBe(400)
    expect(JSON.stringify(await bad.json())).toContain('id')
    expect((await fetch(`${gw.url}/admin/api/requests/${ok.id}`)).status).toBe(401)
    expect((await fetch(`${gw.url}/admin/api/requests/${ok.id}`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).status).toBe(401)
  })

  test('usage aggregates by day, key and model agree with the log', async () => {
    await eventually(async () => (await adminJson('/admin/api/usage?group_by=key')).data.length > 0)
    const byKey = (await adminJson('/admin/api/usage?group_by=key')).data
    const rows = (await adminJson('/admin/api/requests?limit=500')).data
    const tester = byKey.find((u: any) => u.key === 'cfg_tester')
    expect(tester.requests).toBe(rows.filter((r: any) => r.keyId === 'cfg_tester').length)
    const byDay = (await adminJson(`/admin/api/usage?group_by=day,model&from=${new Date().toISOString().slice(0, 10)}`)).data
    expect(byDay.some((u: any) => u.model === 'mock-model' && u.prompt_tokens > 0)).toBe(true)
    expect((await get('/admin/api/usage?group_by=colour')).status).toBe(400)
    const overview = await adminJson('/admin/api/overview?window=1h')
    expect(overview.requests).toBe(rows.length)
    expect(overview.series).toHaveLength(60)
  })

  test('/metrics: Prometheus text whose counters match the requests sent; admin only unless public', async () => {
    expect((await fetch(`${gw.url}/metrics`)).status).toBe(401)
    const before = parse(await (await get('/metrics')).text())
    const sent = 4
    for (let i = 0; i < sent; i++) await client.chat.completions.create({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] })
    const text = await (await get('/metrics')).text()
    const after = parse(text)
    const key = 'sluice_requests_total{route="/v1/chat/completions",model="mock-model",provider="mock",status="200"}'
    expect((after.get(key) ?? 0) - (before.get(key) ?? 0)).toBe(sent)
    expect((after.get('sluice_tokens_total{type="prompt"}') ?? 0) - (before.get('sluice_tokens_total{type="prompt"}') ?? 0)).toBe(11 * sent)
    expect(after.get('sluice_upstream_keys{provider="mock",state="usable"}')).toBe(1)
    expect(after.get('sluice_upstream_attempts_total{provider="mock",outcome="ok"}')).toBeGreaterThanOrEqual(sent)
    expect(after.has('sluice_log_queue_depth')).toBe(true)
    expect(after.get('process_resident_memory_bytes')).toBeGreaterThan(0)
    expect(text).toContain('# TYPE sluice_request_duration_seconds histogram')
    expect(text).not.toContain(CLIENT_KEY)
    const pub = await startGateway({ metrics: { public: true }, providers: [] })
    expect((await fetch(`${pub.url}/metrics`)).status).toBe(200)
    await pub.stop()
  })
})

/** Parses the exposition format into `name{labels}` -> value, checking every line's syntax. */
function parse(text: string): Map<string, number> {
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?) (-?[0-9.e+]+|\+Inf|NaN)$/.exec(line)
    if (!m) throw new Error(`not exposition format: ${line}`)
    values.set(m[1]!, Number(m[2]))
  }
  return values
}

describe('the live tail', () => {
  /** Opens the live tail, makes a request that fails (so its bodies are kept), and returns the row that came. */
  async function tailOne(query: string): Promise<any> {
    const controller = new AbortController()
    const res = await fetch(`${gw.url}/admin/api/requests/live${query}`, { headers: { authorization: `Bearer ${ADMIN}` }, signal: controller.signal })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    await reader.read() // the opening comment: subscribed
    await client.chat.completions.create({ model: 'no-such-model-for-the-tail', messages: [{ role: 'user', content: 'tail me' }] }).catch(() => {})
    let text = ''
    const deadline = Date.now() + 5000
    while (!/\ndata: /.test('\n' + text) && Date.now() < deadline) {
      const { done, value } = await reader.read()
      if (done) break
      text += new TextDecoder().decode(value)
    }
    controller.abort()
    const line = text.split('\n').find((l) => l.startsWith('data: '))!
    return JSON.parse(line.slice(6))
  }

  test('each request arrives as it is logged; fields=summary leaves the bodies out', async () => {
    const full = await tailOne('')
    expect(full.status).toBe(404)
    expect(full.requestBody).toContain('tail me')
    const summary = await tailOne('?fields=summary')
    expect(summary.status).toBe(404)
    expect('requestBody' in summary).toBe(false)
    expect('responseBody' in summary).toBe(false)
    expect((await get('/admin/api/requests/live?fields=all')).status).toBe(400)
  })
})
